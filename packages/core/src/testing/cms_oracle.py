#!/usr/bin/python3
"""A second, independent CMS SignedData implementation for ssmax's interop tests (issue 12).

It shares no code with the TypeScript implementation: ASN.1 by asn1crypto (Debian python3-asn1crypto 1.5),
signatures by pyca/cryptography (Debian python3-cryptography 38.0.4, OpenSSL 3.0 underneath). Written
against the cryptography 38 API on purpose: run it with /usr/bin/python3, never a newer pip cryptography.

  cms_oracle.py verify --in SIG.der [--content FILE] [--cert CERT.pem ...]
      One JSON line: {"valid": bool, "signers": [{"valid", "reason", "sid", "digest", "signature"}]}
      (valid = at least one signer and all signers valid). Signatures and digests only, no chain.
  cms_oracle.py sign --in FILE --out SIG.der (--key KEY.pem --cert CERT.pem)... [--detached] [--noattr]
      [--ski] [--nocerts] [--md sha256|sha384|sha512]
      One SignerInfo per --key/--cert pair. Ed25519 signs with SHA-512 and Ed448 with SHAKE256 (512-bit
      output) as the digest algorithm (RFC 8419 section 3.1), PureEdDSA over the DER signed attributes, or
      over the content with --noattr.
"""
import argparse
import datetime
import json
import sys

from asn1crypto import cms, core, pem, x509 as ax509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

HASHES = {
    'sha256': lambda: hashes.SHA256(),
    'sha384': lambda: hashes.SHA384(),
    'sha512': lambda: hashes.SHA512(),
    'shake256': lambda: hashes.SHAKE256(64),  # RFC 8419 section 2.3: 512-bit output with Ed448
}


def digest(name, data):
    h = hashes.Hash(HASHES[name]())
    h.update(data)
    return h.finalize()


def load_cert(path):
    """asn1crypto certificates: cryptography 38 cannot parse certificates with OID arcs above 64 bits (the
    SSMAX extensions live under 2.25.<UUID>), so only the public key goes to cryptography."""
    data = open(path, 'rb').read()
    if pem.detect(data):
        return [ax509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
    return [ax509.Certificate.load(data)]


def public_key(acert):
    return serialization.load_der_public_key(acert.public_key.dump())


def sid_matches(sid, acert):
    """RFC 5652 section 5.3: issuerAndSerialNumber or subjectKeyIdentifier."""
    if sid.name == 'issuer_and_serial_number':
        return sid.chosen['issuer'].dump() == acert.issuer.dump() and sid.chosen['serial_number'].native == acert.serial_number
    return acert.key_identifier is not None and sid.chosen.native == acert.key_identifier


def check_signature(cert, sig_alg, digest_name, data, signature):
    key = public_key(cert)
    name = sig_alg['algorithm'].native
    if name in ('ed25519', 'ed448'):
        if sig_alg['parameters'].native is not None:
            return 'EdDSA parameters present (RFC 8419 section 2.2)'
        want = 'sha512' if name == 'ed25519' else 'shake256'
        if digest_name != want:
            return '%s needs digest %s (RFC 8419 section 3.1), got %s' % (name, want, digest_name)
        if not isinstance(key, ed25519.Ed25519PublicKey if name == 'ed25519' else ed448.Ed448PublicKey):
            return 'key type does not match %s' % name
        key.verify(signature, data)
        return None
    if name == 'rsassa_pss':
        p = sig_alg['parameters']
        h = p['hash_algorithm']['algorithm'].native
        mgf_h = p['mask_gen_algorithm']['parameters']['algorithm'].native
        if h != digest_name or mgf_h != h:
            return 'PSS hash %s / MGF1 %s vs digest %s' % (h, mgf_h, digest_name)
        key.verify(signature, data, padding.PSS(mgf=padding.MGF1(HASHES[h]()), salt_length=p['salt_length'].native), HASHES[h]())
        return None
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), HASHES[digest_name]())
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(HASHES[digest_name]()))
        return None
    return 'unsupported signature algorithm %s' % name


def verify(args):
    ci = cms.ContentInfo.load(open(args.infile, 'rb').read())
    sd = ci['content']
    encap = sd['encap_content_info']
    content = encap['content'].native if encap['content'].native is not None else None
    if content is None and args.content:
        content = open(args.content, 'rb').read()
    certs = []
    for c in sd['certificates'] or []:
        if c.name == 'certificate':
            certs.append(c.chosen)
    for path in args.cert or []:
        certs.extend(load_cert(path))
    out = []
    for si in sd['signer_infos']:
        sid = si['sid']
        digest_name = si['digest_algorithm']['algorithm'].native
        r = {'sid': sid.name, 'digest': digest_name, 'signature': si['signature_algorithm']['algorithm'].native, 'valid': False}
        try:
            cert = next((c for c in certs if sid_matches(sid, c)), None)
            if cert is None:
                raise ValueError('no certificate matches the sid')
            if content is None:
                raise ValueError('content missing')
            attrs = si['signed_attrs']
            if attrs.native is not None and len(attrs) > 0:
                found = {a['type'].native: a['values'] for a in attrs}
                if found.get('content_type') is None or found['content_type'][0].native != encap['content_type'].native:
                    raise ValueError('contentType attribute missing or different')
                if found.get('message_digest') is None or found['message_digest'][0].native != digest(digest_name, content):
                    raise ValueError('messageDigest does not match')
                raw = attrs.dump()
                data = b'\x31' + raw[1:]  # RFC 5652 section 5.4: signed over the SET OF encoding
            else:
                data = content
            why = check_signature(cert, si['signature_algorithm'], digest_name, data, si['signature'].native)
            if why:
                raise ValueError(why)
            r['valid'] = True
            r['reason'] = ''
        except InvalidSignature:
            r['reason'] = 'signature does not verify'
        except Exception as e:  # noqa: BLE001 -- every failure is a verdict here
            r['reason'] = str(e) or type(e).__name__
        out.append(r)
    print(json.dumps({'valid': len(out) > 0 and all(s['valid'] for s in out), 'signers': out}))


def der_set_of(encodings):
    """DER SET OF (X.690 section 11.6): elements in ascending order of their encodings."""
    body = b''.join(sorted(encodings))
    return core.SetOf(contents=body).dump()


def sign(args):
    content = open(args.infile, 'rb').read()
    if len(args.key) != len(args.cert) or not args.key:
        sys.exit('give --key and --cert in pairs')
    signer_infos, digest_algs, cert_list = [], [], []
    any_v3 = False
    for key_path, cert_path in zip(args.key, args.cert):
        key = serialization.load_pem_private_key(open(key_path, 'rb').read(), password=None)
        acert = load_cert(cert_path)[0]
        cert_list.append(acert)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            dname, sig_alg = 'sha512', {'algorithm': 'ed25519'}
        elif isinstance(key, ed448.Ed448PrivateKey):
            dname, sig_alg = 'shake256', {'algorithm': 'ed448'}
        elif isinstance(key, rsa.RSAPrivateKey):
            dname = args.md or 'sha256'
            if args.pss:
                hlen = HASHES[dname]().digest_size
                sig_alg = {'algorithm': 'rsassa_pss', 'parameters': {
                    'hash_algorithm': {'algorithm': dname},
                    'mask_gen_algorithm': {'algorithm': 'mgf1', 'parameters': {'algorithm': dname}},
                    'salt_length': hlen, 'trailer_field': 'trailer_field_bc'}}
            else:
                sig_alg = {'algorithm': 'rsassa_pkcs1v15'}
        else:
            dname = args.md or {'secp384r1': 'sha384', 'secp521r1': 'sha512'}.get(key.curve.name, 'sha256')
            sig_alg = {'algorithm': '%s_ecdsa' % dname}
        if dname not in digest_algs:
            digest_algs.append(dname)
        if args.noattr:
            tbs, signed_attrs = content, None
        else:
            attrs = [
                cms.CMSAttribute({'type': 'content_type', 'values': ['data']}),
                cms.CMSAttribute({'type': 'message_digest', 'values': [digest(dname, content)]}),
                cms.CMSAttribute({'type': 'signing_time', 'values': [cms.Time({'utc_time': datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)})]}),
            ]
            tbs = der_set_of([a.dump() for a in attrs])
            signed_attrs = cms.CMSAttributes.load(tbs)
        if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            signature = key.sign(tbs)
        elif isinstance(key, rsa.RSAPrivateKey):
            pad = padding.PSS(mgf=padding.MGF1(HASHES[dname]()), salt_length=HASHES[dname]().digest_size) if args.pss else padding.PKCS1v15()
            signature = key.sign(tbs, pad, HASHES[dname]())
        else:
            signature = key.sign(tbs, ec.ECDSA(HASHES[dname]()))
        if args.ski:
            any_v3 = True
            sid = cms.SignerIdentifier({'subject_key_identifier': acert.key_identifier})
        else:
            sid = cms.SignerIdentifier({'issuer_and_serial_number': {'issuer': acert.issuer, 'serial_number': acert.serial_number}})
        si = {
            'version': 'v3' if args.ski else 'v1',
            'sid': sid,
            'digest_algorithm': {'algorithm': dname},
            'signature_algorithm': sig_alg,
            'signature': signature,
        }
        if signed_attrs is not None:
            si['signed_attrs'] = signed_attrs
        info = cms.SignerInfo(si)
        if signed_attrs is not None:
            # The bytes in the SignerInfo must be the bytes that were signed, bar the [0] tag.
            assert b'\x31' + info['signed_attrs'].dump()[1:] == tbs
        signer_infos.append(info)
    encap = {'content_type': 'data'}
    if not args.detached:
        encap['content'] = content
    sd = {
        'version': 'v3' if any_v3 else 'v1',
        'digest_algorithms': [{'algorithm': d} for d in digest_algs],
        'encap_content_info': encap,
        'signer_infos': signer_infos,
    }
    if not args.nocerts:
        sd['certificates'] = cert_list
    ci = cms.ContentInfo({'content_type': 'signed_data', 'content': cms.SignedData(sd)})
    open(args.out, 'wb').write(ci.dump())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    v = sub.add_parser('verify')
    v.add_argument('--in', dest='infile', required=True)
    v.add_argument('--content')
    v.add_argument('--cert', action='append')
    s = sub.add_parser('sign')
    s.add_argument('--in', dest='infile', required=True)
    s.add_argument('--out', required=True)
    s.add_argument('--key', action='append', default=[])
    s.add_argument('--cert', action='append', default=[])
    s.add_argument('--detached', action='store_true')
    s.add_argument('--noattr', action='store_true')
    s.add_argument('--ski', action='store_true')
    s.add_argument('--nocerts', action='store_true')
    s.add_argument('--pss', action='store_true')
    s.add_argument('--md', choices=['sha256', 'sha384', 'sha512'])
    a = p.parse_args()
    verify(a) if a.cmd == 'verify' else sign(a)


if __name__ == '__main__':
    main()
