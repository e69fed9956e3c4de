"""Rebuilds pkits.json and limbo.json in this folder (see README.md). Not run by the tests.

Usage: python3 build-vectors.py CERTVALIDATOR_GIT_DIR LIMBO_JSON
  CERTVALIDATOR_GIT_DIR  a clone of github.com/wbond/certvalidator (its PKITS fixtures and test table)
  LIMBO_JSON             limbo.json compiled from github.com/C2SP/x509-limbo (only rfc5280::, pathlen::, crl:: kept)
"""

import ast
import base64
import json
import subprocess
import sys

from cryptography import x509

GIT, LIMBO = sys.argv[1], sys.argv[2]
FIX = "tests/fixtures/nist_pkits"


def git(*args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", GIT, *args], check=True, capture_output=True).stdout


def names(folder: str) -> list[str]:
    return [p.split("/")[-1] for p in git("ls-tree", "--name-only", "HEAD", f"{FIX}/{folder}/").decode().split()]


der = {n: git("show", f"HEAD:{FIX}/certs/{n}") for n in names("certs")}
crl_der = {n: git("show", f"HEAD:{FIX}/crls/{n}") for n in names("crls")}

# certvalidator's table: (id, EE, intermediates, CRLs, path length, require revocation, error class, message).
table = None
for node in ast.walk(ast.parse(git("show", "HEAD:tests/test_validate.py").decode())):
    if isinstance(node, ast.FunctionDef) and node.name == "nist_info":
        table = [[e.id if isinstance(e, ast.Name) else ast.literal_eval(e) for e in row.elts] for row in node.body[-1].value.elts]
assert table is not None

cases = []
for row in table:
    ident, ee, inter, crls, _len, _req, err, _msg = row
    sec = ident.split("_")[0]
    number = f"{int(sec[0])}.{int(sec[1:3])}.{int(sec[3:5])}"
    stem = ee[: -len("EE.crt")]
    if stem.startswith("Valid"):
        expected, source = "SUCCESS", "name"
    elif stem.startswith("Invalid"):
        expected, source = "FAILURE", "name"
    else:
        # PKITS section 4.8 tests whose name states no outcome: the outcome under the default inputs
        # (initial-policy-set anyPolicy, no explicit policy, no mapping or anyPolicy inhibit).
        expected, source = ("SUCCESS" if err is None else "FAILURE"), "certvalidator"
    cases.append({"id": f"pkits::{number}::{stem}", "ee": ee, "intermediates": inter, "crls": crls + ["TrustAnchorRootCRL.crl"], "expected": expected, "expectedFrom": source})

# PKITS tests the table leaves out: 4.3.1 and 4.3.2 (from PKITS itself), and the rest with their path
# derived by exact issuer-name chaining from the EE to the trust anchor.
cases.append({"id": "pkits::4.3.1::InvalidNameChainingTest1", "ee": "InvalidNameChainingTest1EE.crt", "intermediates": ["GoodCACert.crt"], "crls": ["GoodCACRL.crl", "TrustAnchorRootCRL.crl"], "expected": "FAILURE", "expectedFrom": "name"})
cases.append({"id": "pkits::4.3.2::InvalidNameChainingOrderTest2", "ee": "InvalidNameChainingOrderTest2EE.crt", "intermediates": ["NameOrderingCACert.crt"], "crls": ["NameOrderCACRL.crl", "TrustAnchorRootCRL.crl"], "expected": "FAILURE", "expectedFrom": "name"})
covered = {c["ee"] for c in cases}
def load(b: bytes):
    try:
        return x509.load_der_x509_certificate(b)
    except ValueError:
        return None  # DSA parameter inheritance (4.1.5): not on any derived path


parsed = {n: c for n, c in ((n, load(b)) for n, b in der.items()) if c is not None}
parsed_crl = {n: x509.load_der_x509_crl(b) for n, b in crl_der.items()}
cas = [n for n in parsed if not n.endswith("EE.crt") and n != "TrustAnchorRootCertificate.crt"]
SECTION = [("nameConstraintsTest", "4.13"), ("PolicyMappingTest", "4.10"), ("UserNoticeQualifierTest", "4.8"), ("CPSPointerQualifierTest", "4.8")]
for ee in sorted(n for n in der if n.endswith("EE.crt") and n not in covered):
    stem = ee[: -len("EE.crt")]
    sec = next(s for k, s in SECTION if k in stem)
    num = int("".join(ch for ch in stem.split("Test")[-1] if ch.isdigit()))
    chain, todo, seen = [], [parsed[ee].issuer], set()
    while todo:
        want = todo.pop()
        if want in seen:
            continue
        seen.add(want)
        for n in cas:
            if parsed[n].subject == want and n not in chain:
                chain.append(n)
                todo.append(parsed[n].issuer)
    subjects = {parsed[n].subject for n in chain} | {parsed["TrustAnchorRootCertificate.crt"].subject}
    crls = sorted(n for n, c in parsed_crl.items() if c.issuer in subjects)
    if stem.startswith("Valid"):
        expected, source = "SUCCESS", "name"
    elif stem.startswith("Invalid"):
        expected, source = "FAILURE", "name"
    else:
        expected, source = "SUCCESS", "pkits"  # 4.8.15-4.8.20: policy qualifiers; every one validates
    cases.append({"id": f"pkits::{sec}.{num}::{stem}", "ee": ee, "intermediates": chain, "crls": crls, "expected": expected, "expectedFrom": source})

cases.sort(key=lambda c: [int(x) for x in c["id"].split("::")[1].split(".")])
used_certs = sorted({"TrustAnchorRootCertificate.crt"} | {c["ee"] for c in cases} | {n for c in cases for n in c["intermediates"]})
used_crls = sorted({n for c in cases for n in c["crls"]})
pkits = {
    "trustAnchor": "TrustAnchorRootCertificate.crt",
    "validationTime": "2020-01-01T00:00:00Z",
    "certs": {n: base64.b64encode(der[n]).decode() for n in used_certs},
    "crls": {n: base64.b64encode(crl_der[n]).decode() for n in used_crls},
    "cases": cases,
}
json.dump(pkits, open("pkits.json", "w"), indent=1)


def b64(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


limbo = []
for t in json.load(open(LIMBO))["testcases"]:
    if not t["id"].startswith(("rfc5280::", "pathlen::", "crl::")):
        continue
    limbo.append({
        "id": t["id"],
        "description": t["description"],
        "features": t["features"] or [],
        "validationKind": t["validation_kind"],
        "trusted": [b64(p) for p in t["trusted_certs"]],
        "intermediates": [b64(p) for p in t["untrusted_intermediates"]],
        "peer": b64(t["peer_certificate"]),
        "crls": [b64(p) for p in (t.get("crls") or [])],
        "validationTime": t["validation_time"],
        "keyUsage": t["key_usage"],
        "extendedKeyUsage": t["extended_key_usage"],
        "expectedPeerName": t["expected_peer_name"],
        "maxChainDepth": t["max_chain_depth"],
        "expected": t["expected_result"],
    })
json.dump({"testcases": limbo}, open("limbo.json", "w"), indent=1)
print(len(cases), "pkits cases,", len(used_certs), "certs,", len(used_crls), "CRLs;", len(limbo), "limbo cases")
