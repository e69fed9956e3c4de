export { World, WorldUser, randomSeed } from './world.js';
export type { WorldOptions, WorldOrg, ServiceListing, SendInput, InboxInput } from './world.js';
export { WORLD_CONFIG_SCHEMA, validateWorldConfig, parseWorldConfig, loadWorldConfig, userAddress } from './world-config.js';
export type { WorldConfig, WorldOrgConfig, WorldUserConfig } from './world-config.js';
export { PROFILES, PROFILE_IDS, getProfile, modeFor } from './profiles.js';
export type { ProfileId, DefenceProfile, ProfileDns, ProfileOrgSettings, ConventionalOptions, ConventionalAttachments } from './profiles.js';
