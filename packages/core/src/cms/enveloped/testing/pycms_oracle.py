#!/usr/bin/python3
"""Second, independent EnvelopedData / AuthEnvelopedData implementation for the issue-12 interop tests.

It shares no code with packages/core: ASN.1 by asn1crypto (Debian python3-asn1crypto 1.5), cryptography by
pyca/cryptography (Debian python3-cryptography 38.0.4; only its 38.x API). It covers what OpenSSL 3.0
cannot: X25519/X448 key agreement (RFC 8418) with X9.63 and HKDF KDFs, ChaCha20-Poly1305 (RFC 8103), and
AuthEnvelopedData authAttrs (RFC 5083 §2.2); the other algorithms too, as a second opinion.

  pycms_oracle.py encrypt --in F --out F --cipher C [--recip CERT]... [--oaep-hash H] [--kdf x963|hkdf]
                          [--kek HEX --kekid HEX] [--password P] [--auth-attrs]
  pycms_oracle.py decrypt --in F --out F [--key PEM] [--kek HEX --kekid HEX] [--password P]

Exit 0 on success; 1 with a one-line reason on stderr when decryption fails.
"""
import argparse
import os
import sys

from asn1crypto import algos, cms, core, keys, x509 as ax509
from cryptography.hazmat.primitives import hashes, keywrap, padding as sympad, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography import x509

CIPHERS = {  # name: (oid, key length, iv length, kind)
    'aes-128-cbc': ('2.16.840.1.101.3.4.1.2', 16, 16, 'cbc'),
    'aes-192-cbc': ('2.16.840.1.101.3.4.1.22', 24, 16, 'cbc'),
    'aes-256-cbc': ('2.16.840.1.101.3.4.1.42', 32, 16, 'cbc'),
    'aes-128-gcm': ('2.16.840.1.101.3.4.1.6', 16, 12, 'gcm'),
    'aes-192-gcm': ('2.16.840.1.101.3.4.1.26', 24, 12, 'gcm'),
    'aes-256-gcm': ('2.16.840.1.101.3.4.1.46', 32, 12, 'gcm'),
    'chacha20-poly1305': ('1.2.840.113549.1.9.16.3.18', 32, 12, 'chacha'),
    'des-ede3-cbc': ('1.2.840.113549.3.7', 24, 8, 'cbc'),
}
BY_OID = {v[0]: k for k, v in CIPHERS.items()}
HASHES = {'sha1': hashes.SHA1, 'sha224': hashes.SHA224, 'sha256': hashes.SHA256, 'sha384': hashes.SHA384, 'sha512': hashes.SHA512}
HASH_OIDS = {'1.3.14.3.2.26': 'sha1', '2.16.840.1.101.3.4.2.4': 'sha224', '2.16.840.1.101.3.4.2.1': 'sha256',
             '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512'}
KARI_KDFS = {  # RFC 5753 §7.1.4 (X9.63) and RFC 8418 §2.2 (HKDF)
    '1.3.133.16.840.63.0.2': ('x963', 'sha1'), '1.3.132.1.11.0': ('x963', 'sha224'), '1.3.132.1.11.1': ('x963', 'sha256'),
    '1.3.132.1.11.2': ('x963', 'sha384'), '1.3.132.1.11.3': ('x963', 'sha512'),
    '1.2.840.113549.1.9.16.3.19': ('hkdf', 'sha256'), '1.2.840.113549.1.9.16.3.20': ('hkdf', 'sha384'),
    '1.2.840.113549.1.9.16.3.21': ('hkdf', 'sha512'),
}
WRAPS = {'2.16.840.1.101.3.4.1.5': 16, '2.16.840.1.101.3.4.1.25': 24, '2.16.840.1.101.3.4.1.45': 32}
WRAP_BY_LEN = {v: k for k, v in WRAPS.items()}
X25519_OID, X448_OID, EC_OID = '1.3.101.110', '1.3.101.111', '1.2.840.10045.2.1'
PWRI_KEK, PBKDF2 = '1.2.840.113549.1.9.16.3.9', '1.2.840.113549.1.5.12'
PRFS = {'1.2.840.113549.2.7': 'sha1', '1.2.840.113549.2.9': 'sha256', '1.2.840.113549.2.10': 'sha384', '1.2.840.113549.2.11': 'sha512'}


class AlgId(core.Sequence):
    _fields = [('algorithm', core.ObjectIdentifier), ('parameters', core.Any, {'optional': True})]


class GcmParams(core.Sequence):
    _fields = [('nonce', core.OctetString), ('icv_len', core.Integer, {'default': 12})]


class SharedInfo(core.Sequence):  # RFC 5753 §7.2 ECC-CMS-SharedInfo
    _fields = [('key_info', AlgId), ('entity_u_info', core.OctetString, {'explicit': 0, 'optional': True}),
               ('supp_pub_info', core.OctetString, {'explicit': 2})]


class Pbkdf2Params(core.Sequence):
    _fields = [('salt', core.OctetString), ('iterations', core.Integer), ('key_length', core.Integer, {'optional': True}),
               ('prf', AlgId, {'optional': True})]


def fail(msg):
    sys.stderr.write(msg + '\n')
    sys.exit(1)


def alg(obj):
    return AlgId.load(obj.dump())


def shared_info(wrap_alg_der, ukm, kek_len):
    fields = {'key_info': AlgId.load(wrap_alg_der), 'supp_pub_info': (kek_len * 8).to_bytes(4, 'big')}
    if ukm is not None:
        fields['entity_u_info'] = ukm
    return SharedInfo(fields).dump()


def kdf(kind, hname, z, info, length, ukm):
    if kind == 'x963':
        return X963KDF(HASHES[hname](), length, info).derive(z)
    return HKDF(HASHES[hname](), length, ukm, info).derive(z)  # salt = ukm (absent: zeros), info = SharedInfo


def issuer_and_serial(cert_der):
    c = ax509.Certificate.load(cert_der)
    return cms.IssuerAndSerialNumber({'issuer': c.issuer, 'serial_number': c.serial_number})


# -------------------------------------------------------------------------------------------
# RFC 3211 PWRI-KEK wrap

def cbc(encrypt, name, key, iv, data):
    algo = algorithms.TripleDES(key) if name == 'des-ede3-cbc' else algorithms.AES(key)
    c = Cipher(algo, modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def pwri_unwrap(name, kek, iv, wrapped):
    b = 8 if name == 'des-ede3-cbc' else 16
    n = len(wrapped)
    if n < 2 * b or n % b:
        raise ValueError('bad wrapped length')
    last = cbc(False, name, kek, wrapped[n - 2 * b:n - b], wrapped[n - b:])
    first = cbc(False, name, kek, last, wrapped[:n - b]) + last
    block = cbc(False, name, kek, iv, first)
    if block[1] ^ block[4] != 0xff or block[2] ^ block[5] != 0xff or block[3] ^ block[6] != 0xff or block[0] + 4 > n:
        raise ValueError('check bytes')
    return block[4:4 + block[0]]


def pwri_wrap(name, kek, iv, cek):
    b = 8 if name == 'des-ede3-cbc' else 16
    length = max(2 * b, -(-(4 + len(cek)) // b) * b)
    block = bytes([len(cek)]) + bytes(~x & 0xff for x in cek[:3]) + cek
    block += os.urandom(length - len(block))
    first = cbc(True, name, kek, iv, block)
    return cbc(True, name, kek, first[-b:], first)


# -------------------------------------------------------------------------------------------
# Decryption

def open_ktri(ri, key):
    a = ri['key_encryption_algorithm']
    ek = ri['encrypted_key'].native
    if a['algorithm'].native == 'rsaes_pkcs1v15':
        return key.decrypt(ek, padding.PKCS1v15())
    params = a['parameters']
    h = 'sha1'
    if params.native is not None:
        h = HASH_OIDS[params['hash_algorithm']['algorithm'].dotted]
    return key.decrypt(ek, padding.OAEP(mgf=padding.MGF1(HASHES[h]()), algorithm=HASHES[h](), label=None))


def open_kari(ri, key):
    orig = ri['originator'].chosen
    if ri['originator'].name != 'originator_key':
        raise ValueError('static originator')
    oalg = orig['algorithm']['algorithm'].dotted
    point = orig['public_key'].native if not hasattr(orig['public_key'], 'contents') else bytes(orig['public_key'].contents[1:])
    if isinstance(key, x25519.X25519PrivateKey):
        assert oalg == X25519_OID
        z = key.exchange(x25519.X25519PublicKey.from_public_bytes(point))
    elif isinstance(key, x448.X448PrivateKey):
        assert oalg == X448_OID
        z = key.exchange(x448.X448PublicKey.from_public_bytes(point))
    else:
        assert oalg == EC_OID
        z = key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(key.curve, point))
    kea = alg(ri['key_encryption_algorithm'])
    kind, hname = KARI_KDFS[kea['algorithm'].dotted]
    wrap_der = kea['parameters'].dump()
    wrap = AlgId.load(wrap_der)['algorithm'].dotted
    ukm = ri['ukm'].native if ri['ukm'].native is not None else None
    kek = kdf(kind, hname, z, shared_info(wrap_der, ukm, WRAPS[wrap]), WRAPS[wrap], ukm)
    errors = []
    for rek in ri['recipient_encrypted_keys']:
        try:
            return keywrap.aes_key_unwrap(kek, rek['encrypted_key'].native)
        except Exception as e:  # noqa: BLE001 - try the next RecipientEncryptedKey
            errors.append(e)
    raise ValueError('no RecipientEncryptedKey unwraps: %r' % errors)


def open_kekri(ri, kek, kekid):
    if ri['kekid']['key_identifier'].native != kekid:
        raise LookupError('other KEK')
    return keywrap.aes_key_unwrap(kek, ri['encrypted_key'].native)


def open_pwri(ri, password):
    kda = AlgId.load(ri['key_derivation_algorithm'].untag().dump()) if ri['key_derivation_algorithm'].native is not None else None
    if kda is None or kda['algorithm'].dotted != PBKDF2:
        raise ValueError('not PBKDF2')
    p = Pbkdf2Params.load(kda['parameters'].dump())
    prf = PRFS[p['prf']['algorithm'].dotted] if p['prf'].native is not None else 'sha1'
    kea = alg(ri['key_encryption_algorithm'])
    assert kea['algorithm'].dotted == PWRI_KEK
    inner = AlgId.load(kea['parameters'].dump())
    name = BY_OID[inner['algorithm'].dotted]
    iv = core.OctetString.load(inner['parameters'].dump()).native
    kek = PBKDF2HMAC(HASHES[prf](), CIPHERS[name][1], p['salt'].native, p['iterations'].native).derive(password.encode())
    return pwri_unwrap(name, kek, iv, ri['encrypted_key'].native)


def decrypt(args):
    der = open(args.inp, 'rb').read()
    ci = cms.ContentInfo.load(der)
    auth = ci['content_type'].native == 'authenticated_enveloped_data'
    env = ci['content']
    eci = env['auth_encrypted_content_info' if auth else 'encrypted_content_info']
    calg = alg(eci['content_encryption_algorithm'])
    name = BY_OID.get(calg['algorithm'].dotted)
    if name is None:
        fail('unsupported content cipher ' + calg['algorithm'].dotted)
    key = serialization.load_pem_private_key(open(args.key, 'rb').read(), None) if args.key else None
    cek = None
    errors = []
    for ri in env['recipient_infos']:
        try:
            if ri.name == 'ktri' and isinstance(key, rsa.RSAPrivateKey):
                cek = open_ktri(ri.chosen, key)
            elif ri.name == 'kari' and key is not None and not isinstance(key, rsa.RSAPrivateKey):
                cek = open_kari(ri.chosen, key)
            elif ri.name == 'kekri' and args.kek:
                cek = open_kekri(ri.chosen, bytes.fromhex(args.kek), bytes.fromhex(args.kekid))
            elif ri.name == 'pwri' and args.password is not None:
                cek = open_pwri(ri.chosen, args.password)
            if cek is not None:
                break
        except Exception as e:  # noqa: BLE001 - try the next RecipientInfo
            errors.append('%s: %s' % (ri.name, e))
    if cek is None:
        fail('no RecipientInfo opens: %s' % '; '.join(errors))
    kind = CIPHERS[name][3]
    ct = eci['encrypted_content'].native
    if kind == 'cbc':
        iv = core.OctetString.load(calg['parameters'].dump()).native
        padded = cbc(False, name, cek, iv, ct)
        unpad = sympad.PKCS7(64 if name == 'des-ede3-cbc' else 128).unpadder()
        out = unpad.update(padded) + unpad.finalize()
    else:
        if kind == 'gcm':
            gp = GcmParams.load(calg['parameters'].dump())
            nonce, aead = gp['nonce'].native, AESGCM(cek)
            if gp['icv_len'].native != 16:
                fail('only 16-byte GCM tags in this oracle')
        else:
            nonce, aead = core.OctetString.load(calg['parameters'].dump()).native, ChaCha20Poly1305(cek)
        aad = None
        if env['auth_attrs'].native is not None:
            aad = env['auth_attrs'].untag().dump(force=False)
            aad = b'\x31' + aad[1:]  # RFC 5083 §2.2: the AAD carries the SET OF tag
        try:
            out = aead.decrypt(nonce, ct + env['mac'].native, aad)
        except Exception as e:  # noqa: BLE001
            fail('tag mismatch: %s' % e)
    open(args.out, 'wb').write(out)


# -------------------------------------------------------------------------------------------
# Encryption

def ktri_for(cert_der, pub, cek, oaep_hash):
    h = HASHES[oaep_hash]
    ek = pub.encrypt(cek, padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None))
    hash_oid = {v: k for k, v in HASH_OIDS.items()}[oaep_hash]
    params = algos.RSAESOAEPParams({
        'hash_algorithm': {'algorithm': hash_oid},
        'mask_gen_algorithm': {'algorithm': 'mgf1', 'parameters': {'algorithm': hash_oid}},
    })
    return cms.RecipientInfo({'ktri': {
        'version': 'v0', 'rid': {'issuer_and_serial_number': issuer_and_serial(cert_der)},
        'key_encryption_algorithm': {'algorithm': 'rsaes_oaep', 'parameters': params}, 'encrypted_key': ek}})


def kari_for(cert_der, pub, cek, kdf_kind):
    if isinstance(pub, x25519.X25519PublicKey):
        eph = x25519.X25519PrivateKey.generate()
        z, opub, oalg, hname = eph.exchange(pub), eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw), X25519_OID, 'sha256'
    elif isinstance(pub, x448.X448PublicKey):
        eph = x448.X448PrivateKey.generate()
        z, opub, oalg, hname = eph.exchange(pub), eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw), X448_OID, 'sha512'
    else:
        eph = ec.generate_private_key(pub.curve)
        z = eph.exchange(ec.ECDH(), pub)
        opub = eph.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        oalg, hname = EC_OID, {'secp256r1': 'sha256', 'secp384r1': 'sha384', 'secp521r1': 'sha512'}[pub.curve.name]
    kek_len = 16 if len(cek) == 16 else 32
    wrap_der = AlgId({'algorithm': WRAP_BY_LEN[kek_len]}).dump()
    kea_oid = {v: k for k, v in KARI_KDFS.items()}[(kdf_kind, hname)]
    kek = kdf(kdf_kind, hname, z, shared_info(wrap_der, None, kek_len), kek_len, None)
    wrapped = keywrap.aes_key_wrap(kek, cek)
    kari = cms.KeyAgreeRecipientInfo({
        'version': 'v3',
        'originator': cms.OriginatorIdentifierOrKey({'originator_key': {'algorithm': {'algorithm': oalg}, 'public_key': opub}}),
        'key_encryption_algorithm': cms.KeyEncryptionAlgorithm.load(AlgId({'algorithm': kea_oid, 'parameters': core.Any.load(wrap_der)}).dump()),
        'recipient_encrypted_keys': [{'rid': {'issuer_and_serial_number': issuer_and_serial(cert_der)}, 'encrypted_key': wrapped}],
    })
    return cms.RecipientInfo({'kari': kari})


def encrypt(args):
    content = open(args.inp, 'rb').read()
    name = args.cipher
    oid, klen, ivlen, kind = CIPHERS[name]
    cek, iv = os.urandom(klen), os.urandom(ivlen)
    ris = []
    for path in args.recip or []:
        raw = open(path, 'rb').read()
        cert = x509.load_pem_x509_certificate(raw) if raw.startswith(b'-----') else x509.load_der_x509_certificate(raw)
        cert_der = cert.public_bytes(serialization.Encoding.DER)
        pub = cert.public_key()
        ris.append(ktri_for(cert_der, pub, cek, args.oaep_hash) if isinstance(pub, rsa.RSAPublicKey) else kari_for(cert_der, pub, cek, args.kdf))
    if args.kek:
        kek = bytes.fromhex(args.kek)
        ris.append(cms.RecipientInfo({'kekri': {'version': 'v4', 'kekid': {'key_identifier': bytes.fromhex(args.kekid)},
                                                'key_encryption_algorithm': {'algorithm': WRAP_BY_LEN[len(kek)]},
                                                'encrypted_key': keywrap.aes_key_wrap(kek, cek)}}))
    if args.password is not None:
        salt, kiv = os.urandom(16), os.urandom(16)
        kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, 10000).derive(args.password.encode())
        kda = AlgId({'algorithm': PBKDF2, 'parameters': core.Any.load(Pbkdf2Params({'salt': salt, 'iterations': 10000, 'key_length': 32,
                                                                                       'prf': AlgId({'algorithm': '1.2.840.113549.2.9', 'parameters': core.Null()})}).dump())})
        kea = AlgId({'algorithm': PWRI_KEK, 'parameters': core.Any.load(AlgId({'algorithm': CIPHERS['aes-256-cbc'][0], 'parameters': core.Any.load(core.OctetString(kiv).dump())}).dump())})
        ris.append(cms.RecipientInfo({'pwri': {'version': 'v0', 'key_derivation_algorithm': algos.KdfAlgorithm.load(kda.dump()),
                                               'key_encryption_algorithm': cms.KeyEncryptionAlgorithm.load(kea.dump()),
                                               'encrypted_key': pwri_wrap('aes-256-cbc', kek, kiv, cek)}}))
    if kind == 'cbc':
        pad = sympad.PKCS7(128).padder()
        ct = cbc(True, name, cek, iv, pad.update(content) + pad.finalize())
        calg = AlgId({'algorithm': oid, 'parameters': core.Any.load(core.OctetString(iv).dump())})
        version = 3 if args.password is not None else (2 if any(r.name != 'ktri' for r in ris) else 0)
        env = cms.EnvelopedData({'version': version, 'recipient_infos': ris, 'encrypted_content_info': {
            'content_type': 'data', 'content_encryption_algorithm': cms.EncryptionAlgorithm.load(calg.dump()), 'encrypted_content': ct}})
        out = cms.ContentInfo({'content_type': 'enveloped_data', 'content': env})
    else:
        params = GcmParams({'nonce': iv, 'icv_len': 16}) if kind == 'gcm' else core.OctetString(iv)
        calg = AlgId({'algorithm': oid, 'parameters': core.Any.load(params.dump())})
        attrs = None
        if args.auth_attrs:
            attrs = cms.CMSAttributes([{'type': 'content_type', 'values': ['data']}])
        aad = attrs.dump() if attrs is not None else None
        sealed = (AESGCM(cek) if kind == 'gcm' else ChaCha20Poly1305(cek)).encrypt(iv, content, aad)
        fields = {'version': 0, 'recipient_infos': ris, 'auth_encrypted_content_info': {
            'content_type': 'data', 'content_encryption_algorithm': cms.EncryptionAlgorithm.load(calg.dump()), 'encrypted_content': sealed[:-16]},
            'mac': sealed[-16:]}
        if attrs is not None:
            fields['auth_attrs'] = attrs
        out = cms.ContentInfo({'content_type': 'authenticated_enveloped_data', 'content': cms.AuthEnvelopedData(fields)})
    open(args.out, 'wb').write(out.dump())


def main():
    p = argparse.ArgumentParser()
    p.add_argument('op', choices=['encrypt', 'decrypt'])
    p.add_argument('--in', dest='inp', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--cipher', default='aes-256-gcm')
    p.add_argument('--recip', action='append')
    p.add_argument('--key')
    p.add_argument('--oaep-hash', default='sha256')
    p.add_argument('--kdf', default='x963')
    p.add_argument('--kek')
    p.add_argument('--kekid')
    p.add_argument('--password')
    p.add_argument('--auth-attrs', action='store_true')
    a = p.parse_args()
    (encrypt if a.op == 'encrypt' else decrypt)(a)


if __name__ == '__main__':
    main()
