export * from './token.js';
export { Pkcs11Module, trimLabel, type Pkcs11ModuleOptions } from './pkcs11-module.js';
export { Pkcs11Token, type Pkcs11TokenOptions } from './pkcs11-token.js';
export { SoftHsmNative, SOFTHSM2_MODULE_PATH, SOFTHSM_NATIVE_CAPABILITIES, type SoftHsmNativeOptions, type InitTokenOptions } from './softhsm-native.js';
export {
  SoftHsmContainer,
  SOFTHSM_CONTAINER_IMAGE,
  SOFTHSM_CONTAINER_CAPABILITIES,
  P11KIT_CLIENT_MODULE_PATH,
  type SoftHsmContainerOptions,
} from './softhsm-container.js';
export { WebCryptoToken, WEBCRYPTO_CAPABILITIES, type WebCryptoTokenOptions } from './webcrypto-token.js';
export { bindTokenKey } from './bind-token-key.js';
export { Card, type CardOptions, type CardPinState } from './card.js';
export { emeOaepDecode } from './oaep.js';
export { ecdsaRawToDer } from './key-encoding.js';
