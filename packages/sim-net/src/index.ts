export { AddressPlan, checkBindable } from './address-plan.js';
export type { ActorAddress, AddressPlanOptions } from './address-plan.js';
export { DnsError, DnsZone, mtaStsPolicyText, reverseName, splitTxt } from './dns-zone.js';
export type {
  DkimKey,
  DmarcPolicy,
  DnsErrorCode,
  DnsFault,
  DnsQuery,
  DnsResolver,
  DnsReverser,
  DnsZoneSnapshot,
  MtaStsPolicy,
  MxRecord,
  RrType,
  SpfPolicy,
} from './dns-zone.js';
export { ServiceDirectory, dialOptions, serviceKey } from './service-directory.js';
export type { ConnectOptions, DialOptions, Endpoint, ServiceEntry } from './service-directory.js';
export { WireTap } from './wire-tap.js';
export type { TapConnection, TapDirection, TapLeg, TapMatch, TapSegment, WireTapOptions } from './wire-tap.js';
export { TestCa } from './test-ca.js';
export type { ServerIdentity, TestCaOptions } from './test-ca.js';
export { fetchMtaStsPolicy } from './mta-sts.js';
export type { FetchMtaStsOptions, FetchedMtaStsPolicy } from './mta-sts.js';
export { SimNet } from './sim-net.js';
export type { ExposeOptions, ExposedService, OnPathContext, OnPathHandler, OnPathHook, OnPathMeta, ReservedService, SimNetOptions } from './sim-net.js';
