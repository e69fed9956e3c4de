import { Pkcs11Module, Pkcs11Token, SOFTHSM2_MODULE_PATH, SOFTHSM_NATIVE_CAPABILITIES, SsmaxError, bindTokenKey, type PrivateKeyOps } from '@ssmax/core';

/** The parts of an RFC 7512 `pkcs11:` URI the CLI uses. */
export interface Pkcs11Uri {
  readonly token?: string;
  readonly object?: string;
  readonly id?: string;
  readonly modulePath?: string;
  readonly pinValue?: string;
}

/** Parses an RFC 7512 PKCS#11 URI (path attributes `;`-separated, query attributes `&`-separated, %-encoding). */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!uri.startsWith('pkcs11:')) {
    throw new SsmaxError('USAGE', `Cannot parse the token URI "${uri}". It must start with "pkcs11:" (RFC 7512).`);
  }
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  const out: Record<string, string> = {};
  const take = (pairs: string[], sep: string) => {
    for (const pair of pairs) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new SsmaxError('USAGE', `Cannot parse the token URI. "${pair}" is not name=value (RFC 7512 §2.3).`);
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(eq + 1));
      } catch (cause) {
        throw new SsmaxError('USAGE', `Cannot parse the token URI. Bad %-encoding in "${pair}".`, { cause });
      }
      out[pair.slice(0, eq)] = value;
    }
    void sep;
  };
  take(path.split(';'), ';');
  take(query.split('&'), '&');
  return {
    ...(out['token'] !== undefined ? { token: out['token'] } : {}),
    ...(out['object'] !== undefined ? { object: out['object'] } : {}),
    ...(out['id'] !== undefined ? { id: out['id'] } : {}),
    ...(out['module-path'] !== undefined ? { modulePath: out['module-path'] } : {}),
    ...(out['pin-value'] !== undefined ? { pinValue: out['pin-value'] } : {}),
  };
}

/**
 * Opens (not logged in) the token an RFC 7512 URI names. The module defaults to SoftHSM2 native, which
 * reads SOFTHSM2_CONF from the environment. Close the token to release the module.
 */
export function openUriToken(u: Pkcs11Uri): Pkcs11Token {
  if (!u.token) throw new SsmaxError('USAGE', 'Cannot open the token. The URI names no token (token=<label>).');
  const module = Pkcs11Module.acquire({ path: u.modulePath ?? SOFTHSM2_MODULE_PATH });
  const slot = module.slotByLabel(u.token);
  if (!slot) {
    module.release();
    throw new SsmaxError('KEY_NOT_FOUND', `Cannot open token ${u.token}. No initialised token has that label (is SOFTHSM2_CONF set?).`);
  }
  try {
    return Pkcs11Token.open({ module, slot, label: u.token, capabilities: SOFTHSM_NATIVE_CAPABILITIES });
  } catch (err) {
    module.release();
    throw err;
  }
}

export interface OpenedTokenKey extends AsyncDisposable {
  readonly key: PrivateKeyOps;
}

/**
 * Opens the key an RFC 7512 URI names, logging in with the PIN (`--pin`, `SSMAX_PIN` or the URI's
 * pin-value). The module defaults to SoftHSM2 native, which reads SOFTHSM2_CONF from the environment.
 * Without `object=`/`id=`, the key whose public half matches `matchSpki` (the certificate given) is used.
 */
export async function openTokenKey(uri: string, pin: string | undefined, matchSpki?: Uint8Array): Promise<OpenedTokenKey> {
  const u = parsePkcs11Uri(uri);
  if (!u.token) throw new SsmaxError('USAGE', 'Cannot open the token. The URI names no token (token=<label>).');
  const thePin = pin ?? u.pinValue;
  if (thePin === undefined) throw new SsmaxError('PIN_REQUIRED', `Cannot use token ${u.token}. No PIN given (--pin or SSMAX_PIN).`);
  const token = openUriToken(u);
  try {
    await token.login(thePin);
    const keys = await token.listKeys();
    const eq = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
    const handle =
      u.object !== undefined || u.id !== undefined
        ? keys.find((k) => (u.object === undefined || k.label === u.object) && (u.id === undefined || k.id === u.id.replace(/%/g, '').toLowerCase()))
        : matchSpki
          ? keys.find((k) => eq(k.spki, matchSpki))
          : keys.length === 1
            ? keys[0]
            : undefined;
    if (!handle) {
      throw new SsmaxError(
        'KEY_NOT_FOUND',
        `Cannot find the key on token ${u.token}. ${keys.length} keys there; name one with object=<label> or give the matching certificate.`,
      );
    }
    return {
      key: bindTokenKey(token, handle),
      async [Symbol.asyncDispose]() {
        await token.close();
      },
    };
  } catch (err) {
    await token.close();
    throw err;
  }
}
