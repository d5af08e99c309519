#!/usr/bin/env python3
"""Write the sample CloudTrail organisation trail in sample-logs/.

    python3 tools/sample_logs.py [OUTDIR]            (re)write OUTDIR/AWSLogs (default: <repo>/sample-logs)
    python3 tools/sample_logs.py [OUTDIR] --check    read OUTDIR back, rebuild the sessions independently,
                                                     compare them with what the generator meant, print the facts
    python3 tools/sample_logs.py --write-stories     rewrite tools/SAMPLE_STORIES.md from the files read back

Everything is invented (accounts, users, keys, addresses from the documentation ranges); the shapes follow
real CloudTrail records. Output is byte-identical on every run: the random stream is SHA-256 in counter mode
over a fixed seed (independent of Python's `random`), JSON is written compactly with a fixed key order, and
gzip headers carry mtime 0 and no file name. Only OUTDIR/AWSLogs is deleted and rewritten.

Python 3 standard library only.
"""

import argparse
import base64
import copy
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone

SEED = b"trailscan/sample-logs/2026-11/v1"
ORG = "o-7kq2x9vd4m"
DEV = "210987654321"  # main/dev account: the IAM users live here
PROD = "345678901234"  # prod account
OUTSIDE = "777788889999"  # not in the organisation: no logs of its own
USE1, EUW1 = "us-east-1", "eu-west-1"
TRAIL = "org-trail"
LOG_BUCKET = "acme-org-cloudtrail-o-7kq2x9vd4m"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "sample-logs")
STORIES_MD = os.path.join(REPO, "tools", "SAMPLE_STORIES.md")

# ---------------------------------------------------------------------------------------------------------
# deterministic randomness


class Rng:
    """SHA-256 counter-mode byte stream: the same on every Python 3 version and platform."""

    def __init__(self, seed):
        self.seed = seed
        self.n = 0
        self.buf = b""

    def bytes(self, k):
        while len(self.buf) < k:
            self.buf += hashlib.sha256(self.seed + b"|" + str(self.n).encode()).digest()
            self.n += 1
        out, self.buf = self.buf[:k], self.buf[k:]
        return out

    def below(self, n):
        lim = (1 << 32) - ((1 << 32) % n)
        while True:
            x = int.from_bytes(self.bytes(4), "big")
            if x < lim:
                return x % n

    def chars(self, alphabet, k):
        return "".join(alphabet[self.below(len(alphabet))] for _ in range(k))

    def hex(self, k):
        return self.bytes((k + 1) // 2).hex()[:k]

    def uuid4(self):
        b = bytearray(self.bytes(16))
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def aws_id(rng, prefix, account, length=16):
    """An AWS key id / unique id whose characters [4:] encode `account` the way post-2019 ids do
    (base32; bit 47 set, so the 5th character is >= 'Q'; account in bits 46..7)."""
    z = (1 << 47) | (int(account) << 7) | rng.below(128)
    body = base64.b32encode(z.to_bytes(6, "big") + rng.bytes(4)).decode()  # 16 chars from A-Z2-7
    if length > 16:
        body += rng.chars(B32, length - 16)
    return prefix + body[:length]


def account_of_id(ident):
    z = int.from_bytes(base64.b32decode(ident[4:20])[:6], "big")
    return "%012d" % ((z & 0x7FFFFFFFFF80) >> 7)


# ---------------------------------------------------------------------------------------------------------
# time


def T(s):
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def java_time(t):
    """Java-locale form used by STS responseElements.credentials.expiration, e.g. 'Nov 20, 2026, 11:04:10 AM' (UTC)."""
    h = t.hour % 12 or 12
    return "%s %d, %d, %d:%02d:%02d %s" % (MONTHS[t.month - 1], t.day, t.year, h, t.minute, t.second,
                                           "AM" if t.hour < 12 else "PM")


def delivery_slot(t, delay=0):
    floor = t.replace(minute=t.minute - t.minute % 5, second=0)
    return floor + timedelta(minutes=5 * (1 + delay))


# ---------------------------------------------------------------------------------------------------------
# principals

UA_CLI_MAC = ("aws-cli/2.22.5 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 "
              "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#%s")
UA_CLI_LINUX = ("aws-cli/2.22.5 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-48-generic md/arch#x86_64 lang/python#3.12.6 "
                "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off "
                "md/command#%s")
UA_CLI_WIN = ("aws-cli/2.21.3 md/awscrt#0.22.0 ua/2.0 os/windows#10 md/arch#amd64 lang/python#3.12.6 "
              "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#%s")
UA_BOTO3 = ("Boto3/1.35.60 md/Botocore#1.35.60 ua/2.0 os/linux#6.8.0-1017-aws md/arch#x86_64 lang/python#3.12.7 "
            "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.60")
UA_BOTO3_AUDIT = ("Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#5.15.0-1071-azure md/arch#x86_64 "
                  "lang/python#3.11.10 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.54")
UA_SAML2AWS = "aws-sdk-go/1.55.5 (go1.22.5; darwin; arm64) saml2aws/2.36.17"
UA_GHA = ("aws-sdk-js/3.693.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.18.0 api/sts#3.693.0 "
          "m/E configure-aws-credentials-for-github-actions")
UA_GHA_CLI = ("aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 lang/python#3.12.6 "
              "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off "
              "md/command#%s")
UA_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/142.0.0.0 Safari/537.36")
UA_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0"
UA_EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 "
           "Safari/537.36 Edg/142.0.0.0")
UA_S3CONSOLE = ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.780 Linux/5.10.228-198.888.amzn2int.x86_64 "
                "OpenJDK_64-Bit_Server_VM/25.432-b08 java/1.8.0_432 vendor/Oracle_Corporation cfg/retry-mode/standard]")
UA_LAMBDA_WORKER = "awslambda-worker/1.0 rusid/ef5a0bc6-7f2c-4d38-9a4c-0f8e6c7d9b21"
UA_LAMBDA_BOTO3 = ("Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 "
                   "lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
                   "Botocore/1.34.145")
UA_SSM_AGENT = "aws-sdk-go/1.55.5 (go1.22.8; linux; amd64) amazon-ssm-agent/3.3.1142.0"
UA_INSTANCE_APP = ("Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.115-126.197.amzn2023.x86_64 "
                   "md/arch#x86_64 lang/python#3.9.20 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36")
UA_INSTANCE_CLI = "aws-cli/1.36.4 Python/3.9.20 Linux/6.1.115-126.197.amzn2023.x86_64 botocore/1.35.63"

VERSIONS = {
    "sts.amazonaws.com": "1.08", "signin.amazonaws.com": "1.09", "s3.amazonaws.com": "1.10",
    "ec2.amazonaws.com": "1.10", "iam.amazonaws.com": "1.09", "cloudtrail.amazonaws.com": "1.11",
    "dynamodb.amazonaws.com": "1.09", "logs.amazonaws.com": "1.08", "cloudformation.amazonaws.com": "1.09",
    "ecs.amazonaws.com": "1.10", "rds.amazonaws.com": "1.09", "ssm.amazonaws.com": "1.09",
    "cloudfront.amazonaws.com": "1.08", "health.amazonaws.com": "1.08",
}


class User:
    def __init__(self, rng, name, account):
        self.name, self.account = name, account
        self.arn = "arn:aws:iam::%s:user/%s" % (account, name)
        self.aid = aws_id(rng, "AIDA", account, 17)
        self.akia = aws_id(rng, "AKIA", account)

    def identity(self, key=None):
        return {"type": "IAMUser", "principalId": self.aid, "arn": self.arn, "accountId": self.account,
                "accessKeyId": key or self.akia, "userName": self.name}

    def console_identity(self, key, created, mfa=False):
        d = self.identity(key)
        d["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                               "attributes": {"creationDate": ts(created), "mfaAuthenticated": str(mfa).lower()}}
        return d


class Role:
    def __init__(self, rng, name, account, path="/"):
        self.name, self.account, self.path = name, account, path
        self.arn = "arn:aws:iam::%s:role%s%s" % (account, path, name)
        self.rid = aws_id(rng, "AROA", account, 17)

    def session_arn(self, session):
        return "arn:aws:sts::%s:assumed-role/%s/%s" % (self.account, self.name, session)

    def issuer(self):
        return {"type": "Role", "principalId": self.rid, "arn": self.arn, "accountId": self.account,
                "userName": self.name}

    def resource(self):
        return {"accountId": self.account, "type": "AWS::IAM::Role", "ARN": self.arn}


class Session:
    """What the generator meant: one assumption and the credentials it issued."""

    def __init__(self, label, story, role, name, t, key, console=False):
        self.label, self.story, self.role, self.name, self.t, self.key = label, story, role, name, t, key
        self.console = console
        self.arn = role.session_arn(name)
        self.principal_id = "%s:%s" % (role.rid, name)

    def identity(self, key=None, mfa=False, extra=None, web=None):
        ctx = {"sessionIssuer": self.role.issuer(), "webIdFederationData": web if web is not None else {},
               "attributes": {"creationDate": ts(self.t), "mfaAuthenticated": str(mfa).lower()}}
        if extra:
            ctx.update(extra)
        return {"type": "AssumedRole", "principalId": self.principal_id, "arn": self.arn,
                "accountId": self.role.account, "accessKeyId": key or self.key, "sessionContext": ctx}


class Ev:
    """A record plus where it is filed and what it means (the meaning is never written)."""

    def __init__(self, rec, folder, region, t, delay, story, session, kind):
        self.rec, self.folder, self.region, self.t, self.delay = rec, folder, region, t, delay
        self.story, self.session, self.kind = story, session, kind


# ---------------------------------------------------------------------------------------------------------
# the trail


class Trail:
    def __init__(self):
        self.rng = Rng(SEED)
        self.events = []
        self.sessions = {}
        self.tokens = []

    # -- low-level --------------------------------------------------------------------------------------
    def record(self, *, t, source, name, region, ident, ip, ua, req=None, resp=None, add=None, rid=None,
               ro, resources=None, etype="AwsApiCall", mgmt=True, recipient, shared=None, tls=None,
               error=None, console=False, story, session=None, kind="call", delay=0, folder=None):
        r = {"eventVersion": VERSIONS[source], "userIdentity": ident, "eventTime": ts(t), "eventSource": source,
             "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua}
        if error:
            if error[0]:
                r["errorCode"] = error[0]
            r["errorMessage"] = error[1]
        r["requestParameters"] = req
        r["responseElements"] = resp
        if add is not None:
            r["additionalEventData"] = add
        if rid is not False:
            r["requestID"] = rid or self.rng.uuid4()
        r["eventID"] = self.rng.uuid4()
        r["readOnly"] = ro
        if resources:
            r["resources"] = resources
        r["eventType"] = etype
        r["managementEvent"] = mgmt
        r["recipientAccountId"] = recipient
        if shared:
            r["sharedEventID"] = shared
        r["eventCategory"] = "Management" if mgmt else "Data"
        if tls:
            r["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                               "clientProvidedHostHeader": tls}
        if console:
            r["sessionCredentialFromConsole"] = "true"
        ev = Ev(r, folder or recipient, region, t, delay, story, session, kind)
        self.events.append(ev)
        return ev

    def asia(self, account):
        return aws_id(self.rng, "ASIA", account)

    def token(self, region):
        raw = (b"!\n\torigin_ec" + b"\x10" + self.rng.bytes(1) + b"\x1a\t" + region.encode() + b'"H0F\x02!\x00'
               + self.rng.bytes(560))
        tok = base64.b64encode(raw).decode()
        self.tokens.append(tok)
        return tok

    def credentials(self, account, t, seconds, region=USE1):
        key = self.asia(account)
        return key, {"accessKeyId": key, "sessionToken": self.token(region),
                     "expiration": java_time(t + timedelta(seconds=seconds))}

    def s3rid(self):
        return self.rng.chars(UPPER_ALNUM, 16)

    def s3add(self, bytes_in=0, bytes_out=0):
        return {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": bytes_in,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": base64.b64encode(self.rng.bytes(57)).decode(), "bytesTransferredOut": bytes_out}

    @staticmethod
    def sts_add(region, endpoint):
        return {"RequestDetails": {"awsServingRegion": region, "endpointType": endpoint}}

    # -- STS ----------------------------------------------------------------------------------------------
    def assume_role(self, *, label, story, t, ident, ip, ua, role, name, seconds=3600, send_duration=True,
                    extra_req=None, extra_resp=None, region=USE1, host="sts.amazonaws.com",
                    owner_ident=None, console=False, service=False, shared=None, delay=0, tls=True):
        """One AssumeRole; two copies when `owner_ident` is given (cross-account: caller copy + role-owner copy)."""
        key, creds = self.credentials(role.account, t, seconds, region)
        req = {"roleArn": role.arn, "roleSessionName": name}
        if send_duration:
            req["durationSeconds"] = seconds
        if extra_req:
            req.update(extra_req)
        resp = {"credentials": creds}
        sess = Session(label, story, role, name, t, key, console=console)
        if not service:
            resp["assumedRoleUser"] = {"assumedRoleId": sess.principal_id, "arn": sess.arn}
        if extra_resp:
            resp.update(extra_resp)
        if owner_ident is not None or service:
            shared = shared or self.rng.uuid4()
        add = None if (service or console) else self.sts_add(region, "global" if host == "sts.amazonaws.com"
                                                              else "regional")
        rid = self.rng.uuid4()
        # the caller's copy lands in the caller's account; service, SAML and OIDC callers have no account of
        # their own, and with an AWSAccount identity this is the role owner's copy (the caller's is not in the org)
        caller_acct = ident["accountId"] if ident.get("type") in ("IAMUser", "AssumedRole") else role.account
        ev = self.record(t=t, source="sts.amazonaws.com", name="AssumeRole", region=region, ident=ident, ip=ip,
                         ua=ua, req=req, resp=resp, add=add, rid=rid, ro=True, resources=[role.resource()],
                         recipient=caller_acct, shared=shared, tls=host if tls else None, story=story,
                         session=label, kind="assume", delay=delay)
        if owner_ident is not None:
            r2 = {}
            for k, v in ev.rec.items():
                if k == "userIdentity":
                    v = owner_ident
                elif k == "eventID":
                    v = self.rng.uuid4()
                elif k == "recipientAccountId":
                    v = role.account
                r2[k] = copy.deepcopy(v)
            self.events.append(Ev(r2, role.account, region, t, delay, story, label, "assume-owner-copy"))
        self.sessions[label] = sess
        return sess

    def denied_assume(self, *, story, label, t, user, ip, ua, role_arn):
        msg = ("User: %s is not authorized to perform: sts:AssumeRole on resource: %s" % (user.arn, role_arn))
        self.record(t=t, source="sts.amazonaws.com", name="AssumeRole", region=USE1, ident=user.identity(), ip=ip,
                    ua=ua, req=None, resp=None, add=self.sts_add(USE1, "global"), ro=True,
                    recipient=user.account, tls="sts.amazonaws.com", error=("AccessDenied", msg), story=story,
                    session=label, kind="assume-denied")

    # -- sign-in ------------------------------------------------------------------------------------------
    def console_login(self, *, story, t, user, ip, ua, mfa=False, ok=True):
        add = {"LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state="
                          "hashArgsFromTB_us-east-1_" + self.rng.hex(16), "MobileVersion": "No"}
        if mfa:
            add["MFAIdentifier"] = "arn:aws:iam::%s:mfa/%s" % (user.account, user.name)
        add["MFAUsed"] = "Yes" if mfa else "No"
        if ok:
            ident = {"type": "IAMUser", "principalId": user.aid, "arn": user.arn, "accountId": user.account,
                     "userName": user.name}
        else:
            ident = {"type": "IAMUser", "principalId": user.aid, "accountId": user.account, "accessKeyId": "",
                     "userName": user.name}
        self.record(t=t, source="signin.amazonaws.com", name="ConsoleLogin", region=USE1, ident=ident, ip=ip,
                    ua=ua, req=None, resp={"ConsoleLogin": "Success" if ok else "Failure"}, add=add, rid=False,
                    ro=False, etype="AwsConsoleSignIn", recipient=user.account, tls="signin.aws.amazon.com",
                    error=None if ok else (None, "Failed authentication"), story=story, kind="noise")

    def console_switch(self, *, label, story, t, user, login_t, ip, ua, role, redirect):
        """A console role switch: AssumeRole by 'AWS Internal' with the user's console key, plus SwitchRole."""
        ident = user.console_identity(self.asia(user.account), login_t)
        ident["invokedBy"] = "AWS Internal"
        sess = self.assume_role(label=label, story=story, t=t, ident=ident, ip="AWS Internal", ua="AWS Internal",
                                role=role, name=user.name, console=True, tls=False)
        self.record(t=t, source="signin.amazonaws.com", name="SwitchRole", region=USE1,
                    ident={"type": "AssumedRole", "principalId": sess.principal_id, "arn": sess.arn,
                           "accountId": role.account},
                    ip=ip, ua=ua, req=None, resp={"SwitchRole": "Success"},
                    add={"SwitchFrom": user.arn, "RedirectTo": redirect}, rid=False, ro=False,
                    etype="AwsConsoleSignIn", recipient=role.account, tls="signin.aws.amazon.com", story=story,
                    session=label, kind="switch")
        return sess

    # -- service calls ------------------------------------------------------------------------------------
    def call(self, *, t, source, name, region, ident, ip, ua, recipient, req=None, resp=None, ro=True,
             story, session=None, tls=True, console=False, error=None, resources=None, mgmt=True, add=None,
             delay=0, kind="call", rid=None):
        host = None
        if tls:
            svc = source.split(".")[0]
            host = tls if isinstance(tls, str) else (
                "%s.amazonaws.com" % svc if svc in ("iam", "cloudfront") else "%s.%s.amazonaws.com" % (svc, region))
        return self.record(t=t, source=source, name=name, region=region, ident=ident, ip=ip, ua=ua, req=req,
                           resp=resp, add=add, ro=ro, recipient=recipient, tls=host, console=console, error=error,
                           resources=resources, mgmt=mgmt, story=story, session=session, delay=delay, kind=kind,
                           rid=rid)

    def s3(self, *, t, name, ident, ip, ua, owner, region, bucket=None, key=None, prefix=None, story,
           session=None, console=False, error=None, delay=0, size=0, tls=True, kind="call"):
        host = "s3.amazonaws.com" if bucket is None else (
            "%s.s3.amazonaws.com" % bucket if region == USE1 else "%s.s3.%s.amazonaws.com" % (bucket, region))
        req = {} if bucket is None else {"bucketName": bucket}
        req["Host"] = host
        resp, resources, mgmt, ro = None, None, True, True
        bucket_res = {"accountId": owner, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::%s" % bucket}
        bin_, bout = 0, 0
        if name == "ListBuckets":
            bout = 2048 + self.rng.below(2048)
        elif name in ("GetBucketLocation", "GetBucketVersioning", "GetBucketAcl", "GetBucketPolicyStatus"):
            req[{"GetBucketLocation": "location", "GetBucketVersioning": "versioning", "GetBucketAcl": "acl",
                 "GetBucketPolicyStatus": "policyStatus"}[name]] = ""
            resources = [bucket_res]
            bout = 100 + self.rng.below(400)
        elif name == "ListObjects":
            req.update({"list-type": "2", "prefix": prefix or "", "delimiter": "/", "encoding-type": "url"})
            resources = [{"type": "AWS::S3::Object", "ARNPrefix": "arn:aws:s3:::%s/%s" % (bucket, prefix or "")},
                         bucket_res]
            mgmt = False
            bout = 600 + self.rng.below(6000)
        elif name in ("GetObject", "PutObject"):
            req["key"] = key
            resources = [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::%s/%s" % (bucket, key)}, bucket_res]
            mgmt = False
            if name == "PutObject":
                ro = False
                resp = {"x-amz-server-side-encryption": "AES256"}
                bin_ = size
            else:
                bout = size
        else:
            raise ValueError(name)
        if error:
            resp, bout = None, 243
        tlsh = host if tls else None
        return self.record(t=t, source="s3.amazonaws.com", name=name, region=region, ident=ident, ip=ip, ua=ua,
                           req=req, resp=resp, add=self.s3add(bin_, bout), rid=self.s3rid(), ro=ro,
                           resources=resources, mgmt=mgmt, recipient=owner, tls=tlsh, console=console, error=error,
                           story=story, session=session, delay=delay, kind=kind)

    def ddb(self, *, t, name, sess, story, delay=0):
        table = "arn:aws:dynamodb:%s:%s:table/orders" % (EUW1, PROD)
        req = {"tableName": "orders", "key": {"order_id": "HIDDEN_DUE_TO_SECURITY_REASONS"}}
        if name == "PutItem":
            req["returnValues"] = "NONE"
        else:
            req["consistentRead"] = False
        return self.call(t=t, source="dynamodb.amazonaws.com", name=name, region=EUW1, ident=sess.identity(),
                         ip="3.250.12.34", ua=UA_LAMBDA_BOTO3, recipient=PROD, req=req, ro=(name == "GetItem"),
                         resources=[{"accountId": PROD, "type": "AWS::DynamoDB::Table", "ARN": table}],
                         mgmt=False, story=story, session=sess.label, delay=delay,
                         rid=self.rng.chars(UPPER_ALNUM, 52))

    # =====================================================================================================
    def build(self):
        rng = self.rng
        # principals ---------------------------------------------------------------------------------------
        james = User(rng, "James", DEV)
        natan = User(rng, "natan", DEV)
        sts_user = User(rng, "sts_user", DEV)
        temp_user = User(rng, "temp-user", DEV)
        deploy_bot = User(rng, "deploy-bot", DEV)
        ops_admin = User(rng, "ops-admin", DEV)
        auditor = User(rng, "audit-scanner", OUTSIDE)

        james_role = Role(rng, "James-custom-S3-role", DEV)
        myapp_role = Role(rng, "MyS3Access", DEV, "/MyApp/")
        ec2full_role = Role(rng, "AWSEC2FULLACCESS", DEV)
        temp_role = Role(rng, "temp-role", DEV)
        deploy_role = Role(rng, "ProdDeployRole", PROD)
        jump_role = Role(rng, "OpsJumpRole", DEV)
        prodro_role = Role(rng, "ProdReadOnly", PROD)
        saml_role = Role(rng, "SAML-Admins", DEV)
        gha_role = Role(rng, "GitHubActionsDeploy", PROD)
        lambda_role = Role(rng, "orders-processor-role", PROD, "/service-role/")
        web_role = Role(rng, "web-server-role", PROD)
        audit_role = Role(rng, "ExternalAuditRole", PROD)
        admin_role_arn = "arn:aws:iam::%s:role/AdminRole" % DEV

        self.principals = dict(james=james, natan=natan, sts_user=sts_user, temp_user=temp_user,
                               deploy_bot=deploy_bot, ops_admin=ops_admin, auditor=auditor)

        # ===================================== 2026-11-18 ==================================================
        # S14: an EC2 instance credential issued before the log window (its AssumeRole is not in the input)
        old_web = Session("S14", "S14", web_role, "i-0a1b2c3d4e5f60718", T("2026-11-17 21:47:03"),
                          self.asia(PROD))
        self.sessions["S14"] = old_web
        inst = dict(ip="52.30.1.2", recipient=PROD, story="S14", session="S14")
        idn = old_web.identity(extra={"ec2RoleDelivery": "2.0"})
        self.call(t=T("2026-11-18 03:20:14"), source="ssm.amazonaws.com", name="UpdateInstanceInformation",
                  region=EUW1, ident=idn, ua=UA_SSM_AGENT, ro=False,
                  req={"instanceId": "i-0a1b2c3d4e5f60718", "agentVersion": "3.3.1142.0", "agentStatus": "Active",
                       "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023",
                       "iPAddress": "10.0.1.25", "computerName": "ip-10-0-1-25.eu-west-1.compute.internal",
                       "agentName": "amazon-ssm-agent", "availabilityZone": "eu-west-1a",
                       "availabilityZoneId": "euw1-az2"}, **inst)
        for i, (tt, k) in enumerate([("2026-11-18 03:21:40", "nginx/nginx.conf"),
                                     ("2026-11-18 03:21:41", "app/settings.json")]):
            self.s3(t=T(tt), name="GetObject", ident=idn, ip="52.30.1.2", ua=UA_INSTANCE_APP, owner=PROD,
                    region=EUW1, bucket="acme-prod-webapp-config", key=k, size=1800 + 700 * i, story="S14",
                    session="S14")
        self.call(t=T("2026-11-18 03:21:42"), source="ssm.amazonaws.com", name="GetParameters", region=EUW1,
                  ident=idn, ua=UA_INSTANCE_APP,
                  req={"names": ["/webapp/prod/db-host", "/webapp/prod/db-password"], "withDecryption": True},
                  **inst)
        self.call(t=T("2026-11-18 03:22:05"), source="ec2.amazonaws.com", name="DescribeTags", region=EUW1,
                  ident=idn, ua=UA_INSTANCE_CLI,
                  req={"filterSet": {"items": [{"name": "resource-id",
                                                "valueSet": {"items": [{"value": "i-0a1b2c3d4e5f60718"}]}}]}},
                  **inst)

        # S11: James's own long-term key: IAM reads that belong to no session
        for tt, nm, req in [("2026-11-18 08:02:11", "ListUsers", None),
                            ("2026-11-18 08:02:13", "GetUser", {"userName": "James"}),
                            ("2026-11-18 08:02:40", "ListAttachedUserPolicies", {"userName": "James"}),
                            ("2026-11-18 08:02:41", "ListGroupsForUser", {"userName": "James"})]:
            self.call(t=T(tt), source="iam.amazonaws.com", name=nm, region=USE1, ident=james.identity(),
                      ip="203.0.113.10", ua=UA_CLI_MAC % ("iam." + re.sub(r"(?<!^)([A-Z])", r"-\1", nm).lower()),
                      recipient=DEV, req=req, story="S11", kind="noise")

        # S4: temp-user, session policy, 900 s
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "TempReadOnly", "Effect": "Allow",
             "Action": ["s3:ListAllMyBuckets", "sts:GetCallerIdentity"], "Resource": "*"}]},
            separators=(",", ":"))
        ua = UA_CLI_LINUX
        temp = self.assume_role(label="S4", story="S4", t=T("2026-11-18 10:31:05"), ident=temp_user.identity(),
                                ip="192.0.2.33", ua=ua % "sts.assume-role", role=temp_role, name="temp-session",
                                seconds=900, extra_req={"policy": policy}, extra_resp={"packedPolicySize": 9})
        ti = temp.identity()
        self.call(t=T("2026-11-18 10:31:40"), source="sts.amazonaws.com", name="GetCallerIdentity", region=USE1,
                  ident=ti, ip="192.0.2.33", ua=ua % "sts.get-caller-identity", recipient=DEV,
                  tls="sts.amazonaws.com", story="S4", session="S4")
        self.s3(t=T("2026-11-18 10:32:02"), name="ListBuckets", ident=ti, ip="192.0.2.33",
                ua="[%s]" % (ua % "s3api.list-buckets"), owner=DEV, region=USE1, story="S4", session="S4")
        self.s3(t=T("2026-11-18 10:32:30"), name="ListObjects", ident=ti, ip="192.0.2.33",
                ua="[%s]" % (ua % "s3.ls"), owner=DEV, region=USE1, bucket="acme-dev-shared", prefix="",
                error=("AccessDenied", "Access Denied"), story="S4", session="S4")

        # S13: a party in the OUTSIDE account 777788889999 (not in the org): only the role owner's copy exists
        audit = self.assume_role(
            label="S13", story="S13", t=T("2026-11-18 15:05:41"),
            ident={"type": "AWSAccount", "principalId": auditor.aid, "accountId": OUTSIDE},
            ip="198.51.100.200", ua=UA_BOTO3_AUDIT, role=audit_role, name="audit-2026-11",
            extra_req={"externalId": "c0ffee-audit-8841"}, shared=self.rng.uuid4())
        ai = audit.identity()
        for tt, nm in [("2026-11-18 15:06:10", "GetAccountPasswordPolicy"), ("2026-11-18 15:06:11", "ListUsers"),
                       ("2026-11-18 15:06:13", "ListRoles"), ("2026-11-18 15:06:20", "GetAccountSummary"),
                       ("2026-11-18 15:06:24", "ListPolicies"),
                       ("2026-11-18 15:06:31", "GetAccountAuthorizationDetails")]:
            self.call(t=T(tt), source="iam.amazonaws.com", name=nm, region=USE1, ident=ai, ip="198.51.100.200",
                      ua=UA_BOTO3_AUDIT, recipient=PROD, story="S13", session="S13")
        self.s3(t=T("2026-11-18 15:07:02"), name="ListBuckets", ident=ai, ip="198.51.100.200", ua=UA_BOTO3_AUDIT,
                owner=PROD, region=USE1, story="S13", session="S13")

        # S11: an IAM-user console login with MFA, no role
        self.console_login(story="S11", t=T("2026-11-18 16:20:31"), user=ops_admin, ip="203.0.113.77",
                           ua=UA_EDGE, mfa=True)

        # ===================================== 2026-11-19 ==================================================
        # S1: James, CLI
        self.call(t=T("2026-11-19 09:13:51"), source="sts.amazonaws.com", name="GetCallerIdentity", region=USE1,
                  ident=james.identity(), ip="203.0.113.10", ua=UA_CLI_MAC % "sts.get-caller-identity",
                  recipient=DEV, tls="sts.amazonaws.com", story="S11", kind="noise")
        jc = self.assume_role(label="S1-cli", story="S1", t=T("2026-11-19 09:14:07"), ident=james.identity(),
                              ip="203.0.113.10", ua=UA_CLI_MAC % "sts.assume-role", role=james_role,
                              name="Radkowski-CLI-test", send_duration=False)
        ji = jc.identity()
        j = dict(ident=ji, ip="203.0.113.10", story="S1", session="S1-cli")
        self.s3(t=T("2026-11-19 09:14:19"), name="ListBuckets", ua="[%s]" % (UA_CLI_MAC % "s3.ls"), owner=DEV,
                region=USE1, **j)
        self.s3(t=T("2026-11-19 09:14:33"), name="GetBucketLocation", ua="[%s]" % (UA_CLI_MAC % "s3.ls"),
                owner=DEV, region=USE1, bucket="james-test-data-2109", **j)
        for tt, p in [("2026-11-19 09:15:02", ""), ("2026-11-19 09:15:40", "reports/"),
                      ("2026-11-19 09:16:48", "reports/2026/")]:
            self.s3(t=T(tt), name="ListObjects", ua="[%s]" % (UA_CLI_MAC % "s3.ls"), owner=DEV, region=EUW1,
                    bucket="james-test-data-2109", prefix=p, **j)
        for tt, p in [("2026-11-19 09:17:20", "reports/2026/10/"), ("2026-11-19 09:17:31", "reports/2026/11/"),
                      ("2026-11-19 09:18:05", "exports/")]:
            self.s3(t=T(tt), name="ListObjects", ua="[%s]" % (UA_CLI_MAC % "s3.ls"), owner=DEV, region=EUW1,
                    bucket="james-test-data-2109", prefix=p, **j)
        self.s3(t=T("2026-11-19 09:21:30"), name="GetBucketLocation", ua="[%s]" % (UA_CLI_MAC % "s3.ls"),
                owner=DEV, region=USE1, bucket="acme-dev-shared", **j)
        self.s3(t=T("2026-11-19 09:21:58"), name="ListObjects", ua="[%s]" % (UA_CLI_MAC % "s3.ls"), owner=DEV,
                region=EUW1, bucket="james-test-data-2109", prefix="raw/", **j)

        # S2: natan -> MyApp/MyS3Access with an external id; S3 data events in eu-west-1
        nt = self.assume_role(label="S2", story="S2", t=T("2026-11-19 10:40:12"), ident=natan.identity(),
                              ip="198.51.100.23", ua=UA_CLI_LINUX % "sts.assume-role", role=myapp_role,
                              name="natan-myapp", extra_req={"externalId": "myapp-7f3c2a91"})
        ni = nt.identity()
        nua = "[%s]" % (UA_CLI_LINUX % "s3.cp")
        for tt, nm, k, sz in [("2026-11-19 10:40:31", "GetObject", "exports/2026-11-18/orders.csv", 48211),
                              ("2026-11-19 10:41:02", "PutObject", "imports/2026-11-19/orders.csv", 51377),
                              ("2026-11-19 10:41:55", "GetObject", "exports/2026-11-18/customers.csv", 20930),
                              ("2026-11-19 10:42:20", "PutObject", "imports/2026-11-19/customers.csv", 21046),
                              ("2026-11-19 10:42:51", "GetObject", "config/myapp.yaml", 1310),
                              ("2026-11-19 10:43:02", "GetObject", "exports/2026-11-18/invoices.csv", 88410),
                              ("2026-11-19 10:43:17", "PutObject", "imports/2026-11-19/invoices.csv", 89124),
                              ("2026-11-19 10:43:31", "GetObject", "exports/2026-11-18/refunds.csv", 4022),
                              ("2026-11-19 10:43:40", "PutObject", "imports/2026-11-19/refunds.csv", 4101),
                              ("2026-11-19 10:43:49", "PutObject", "imports/2026-11-19/_SUCCESS", 0)]:
            self.s3(t=T(tt), name=nm, ident=ni, ip="198.51.100.23", ua=nua, owner=DEV, region=EUW1,
                    bucket="myapp-data-euw1", key=k, size=sz, story="S2", session="S2")
        self.console_login(story="S11", t=T("2026-11-19 10:44:05"), user=natan, ip="198.51.100.23",
                           ua=UA_FIREFOX, ok=False)
        self.s3(t=T("2026-11-19 10:44:30"), name="ListBuckets", ident=natan.identity(), ip="198.51.100.23",
                ua="[%s]" % (UA_CLI_LINUX % "s3.ls"), owner=DEV, region=USE1, story="S11", kind="noise")

        # S7: SAML (Okta) -> SAML-Admins
        name_qualifier = base64.b64encode(hashlib.sha1(b"http://www.okta.com/exk9q2x7vd4mOkta" + DEV.encode()
                                                       + b"Okta").digest()).decode()
        provider = "arn:aws:iam::%s:saml-provider/Okta" % DEV
        saml = self.assume_role(
            label="S7", story="S7", t=T("2026-11-19 11:25:33"),
            ident={"type": "SAMLUser", "principalId": "%s:alice@example.com" % name_qualifier,
                   "userName": "alice@example.com", "identityProvider": name_qualifier},
            ip="192.0.2.140", ua=UA_SAML2AWS, role=saml_role, name="alice@example.com",
            extra_req={"sAMLAssertionID": "_" + self.rng.hex(32), "principalArn": provider},
            extra_resp={"packedPolicySize": 6, "subject": "alice@example.com", "subjectType": "persistent",
                        "issuer": "http://www.okta.com/exk9q2x7vd4mOkta",
                        "audience": "https://signin.aws.amazon.com/saml", "nameQualifier": name_qualifier})
        # AssumeRoleWithSAML: fix the event name and add the provider resource
        ev = [e for e in self.events if e.session == "S7" and e.kind == "assume"][0]
        ev.rec["eventName"] = "AssumeRoleWithSAML"
        ev.rec["resources"].append({"accountId": DEV, "type": "AWS::IAM::SAMLProvider", "ARN": provider})
        si = saml.identity()
        sua = UA_CLI_MAC.replace("macos#24.1.0", "macos#23.6.0")
        self.call(t=T("2026-11-19 11:26:02"), source="iam.amazonaws.com", name="ListRoles", region=USE1, ident=si,
                  ip="192.0.2.140", ua=sua % "iam.list-roles", recipient=DEV, story="S7", session="S7")
        self.call(t=T("2026-11-19 11:26:03"), source="iam.amazonaws.com", name="ListRoles", region=USE1, ident=si,
                  ip="192.0.2.140", ua=sua % "iam.list-roles", recipient=DEV,
                  req={"marker": base64.b64encode(self.rng.bytes(48)).decode()}, story="S7", session="S7")
        for tt, rg in [("2026-11-19 11:27:40", USE1), ("2026-11-19 11:27:52", USE1), ("2026-11-19 11:28:11", EUW1),
                       ("2026-11-19 11:28:19", EUW1)]:
            self.call(t=T(tt), source="cloudtrail.amazonaws.com", name="LookupEvents", region=rg, ident=si,
                      ip="192.0.2.140", ua=sua % "cloudtrail.lookup-events", recipient=DEV,
                      req={"lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "AssumeRole"}],
                           "maxResults": 50}, story="S7", session="S7")

        # S1 (console): James signs in, the console home makes a few calls, then he switches role
        self.console_login(story="S1", t=T("2026-11-19 13:02:45"), user=james, ip="203.0.113.10", ua=UA_CHROME)
        login = T("2026-11-19 13:02:45")
        self.call(t=T("2026-11-19 13:02:49"), source="health.amazonaws.com", name="DescribeEventAggregates",
                  region=USE1, ident=james.console_identity(self.asia(DEV), login), ip="203.0.113.10",
                  ua=UA_CHROME, recipient=DEV, req={"aggregateField": "eventTypeCategory",
                                                     "filter": {"eventStatusCodes": ["open", "upcoming"]}},
                  console=True, story="S11", kind="noise")
        self.call(t=T("2026-11-19 13:02:50"), source="iam.amazonaws.com", name="ListAccountAliases", region=USE1,
                  ident=james.console_identity(self.asia(DEV), login), ip="203.0.113.10",
                  ua="console.amazonaws.com", recipient=DEV, console=True, story="S11", kind="noise")
        jcon = self.console_switch(label="S1-console", story="S1", t=T("2026-11-19 13:03:20"), user=james,
                                   login_t=login, ip="203.0.113.10", ua=UA_CHROME, role=james_role,
                                   redirect="https://console.aws.amazon.com/s3/home")
        cs = dict(ip="203.0.113.10", owner=DEV, console=True, story="S1", session="S1-console", tls=False)
        self.s3(t=T("2026-11-19 13:03:24"), name="ListBuckets", ident=jcon.identity(self.asia(DEV)),
                ua=UA_S3CONSOLE, region=USE1, **cs)
        for tt, b in [("2026-11-19 13:03:25", "james-test-data-2109"), ("2026-11-19 13:03:25", "acme-dev-shared")]:
            self.s3(t=T(tt), name="GetBucketLocation", ident=jcon.identity(self.asia(DEV)), ua=UA_S3CONSOLE,
                    region=USE1, bucket=b, **cs)
        self.s3(t=T("2026-11-19 13:03:26"), name="GetBucketPolicyStatus", ident=jcon.identity(self.asia(DEV)),
                ua="AWS Internal", region=USE1, bucket="acme-dev-shared", **cs)
        for tt, nm in [("2026-11-19 13:05:02", "GetBucketVersioning"), ("2026-11-19 13:05:02", "GetBucketAcl")]:
            self.s3(t=T(tt), name=nm, ident=jcon.identity(self.asia(DEV)), ua=UA_S3CONSOLE, region=EUW1,
                    bucket="james-test-data-2109", **cs)
        for tt, p in [("2026-11-19 13:05:10", ""), ("2026-11-19 13:05:31", "reports/")]:
            self.s3(t=T(tt), name="ListObjects", ident=jcon.identity(self.asia(DEV)), ua=UA_S3CONSOLE,
                    region=EUW1, bucket="james-test-data-2109", prefix=p, **cs)

        # S3: sts_user: two denied CLI AssumeRoles, then a console switch and EC2 work
        for i, tt in enumerate(["2026-11-19 14:10:03", "2026-11-19 14:10:41"]):
            self.denied_assume(story="S3", label="S3-denied-%d" % (i + 1), t=T(tt), user=sts_user,
                               ip="203.0.113.57", ua=UA_CLI_WIN % "sts.assume-role", role_arn=admin_role_arn)
        slogin = T("2026-11-19 14:18:09")
        self.console_login(story="S3", t=slogin, user=sts_user, ip="203.0.113.57", ua=UA_FIREFOX)
        self.call(t=T("2026-11-19 14:18:12"), source="iam.amazonaws.com", name="ListAccountAliases", region=USE1,
                  ident=sts_user.console_identity(self.asia(DEV), slogin), ip="203.0.113.57",
                  ua="console.amazonaws.com", recipient=DEV, console=True, story="S11", kind="noise",
                  error=("AccessDenied", "User: arn:aws:iam::210987654321:user/sts_user is not authorized to "
                                         "perform: iam:ListAccountAliases on resource: * because no "
                                         "identity-based policy allows the iam:ListAccountAliases action"))
        scon = self.console_switch(label="S3-console", story="S3", t=T("2026-11-19 14:18:52"), user=sts_user,
                                   login_t=slogin, ip="203.0.113.57", ua=UA_FIREFOX, role=ec2full_role,
                                   redirect="https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#Home:")
        ec = dict(region=EUW1, ip="203.0.113.57", recipient=DEV, console=True, story="S3", session="S3-console")
        new_instance = "i-0c9d8e7f6a5b4c3d2"
        describes = [
            ("2026-11-19 14:19:05", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
            ("2026-11-19 14:19:06", "DescribeSecurityGroups",
             {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
            ("2026-11-19 14:19:31", "DescribeInstances",
             {"instancesSet": {}, "filterSet": {"items": [{"name": "instance-state-name", "valueSet": {
                 "items": [{"value": "running"}, {"value": "stopped"}]}}]}}),
            ("2026-11-19 14:21:10", "DescribeSecurityGroups",
             {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {"items": [
                 {"name": "vpc-id", "valueSet": {"items": [{"value": "vpc-0f1e2d3c4b5a69788"}]}}]}}),
            ("2026-11-19 14:20:02", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
            ("2026-11-19 14:20:33", "DescribeInstances", {"instancesSet": {}, "filterSet": {}}),
            ("2026-11-19 14:20:34", "DescribeSecurityGroups",
             {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
            ("2026-11-19 14:21:11", "DescribeSecurityGroups",
             {"securityGroupSet": {}, "securityGroupIdSet": {"items": [{"groupId": "sg-0a9b8c7d6e5f40312"}]},
              "filterSet": {}}),
        ]
        for tt, nm, req in describes:
            self.call(t=T(tt), source="ec2.amazonaws.com", name=nm,
                      ident=scon.identity(self.asia(DEV)), ua="console.ec2.amazonaws.com", req=req, **ec)
        rid = self.rng.uuid4()
        self.call(t=T("2026-11-19 14:22:40"), source="ec2.amazonaws.com", name="RunInstances",
                  ident=scon.identity(self.asia(DEV)), ua="console.ec2.amazonaws.com", ro=False, rid=rid,
                  req={"instancesSet": {"items": [{"imageId": "ami-0d64bb532e0502c46", "minCount": 1,
                                                   "maxCount": 1}]},
                       "instanceType": "t3.micro", "blockDeviceMapping": {}, "monitoring": {"enabled": False},
                       "disableApiTermination": False, "disableApiStop": False,
                       "clientToken": self.rng.uuid4(),
                       "networkInterfaceSet": {"items": [{"deviceIndex": 0, "associatePublicIpAddress": True,
                                                          "groupSet": {"items": [
                                                              {"groupId": "sg-0a9b8c7d6e5f40312"}]}}]},
                       "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [
                           {"key": "Name", "value": "sts-user-test"}]}]}},
                  resp={"requestId": rid, "reservationId": "r-0e1d2c3b4a5968778", "ownerId": DEV,
                        "groupSet": {}, "instancesSet": {"items": [{
                            "instanceId": new_instance, "imageId": "ami-0d64bb532e0502c46",
                            "instanceState": {"code": 0, "name": "pending"},
                            "privateDnsName": "ip-172-31-20-14.eu-west-1.compute.internal", "amiLaunchIndex": 0,
                            "productCodes": {}, "instanceType": "t3.micro", "launchTime": 1795098160000,
                            "placement": {"availabilityZone": "eu-west-1a", "tenancy": "default"},
                            "monitoring": {"state": "disabled"}, "subnetId": "subnet-0b1c2d3e4f5a69780",
                            "vpcId": "vpc-0f1e2d3c4b5a69788", "privateIpAddress": "172.31.20.14",
                            "stateReason": {"code": "pending", "message": "pending"}, "architecture": "x86_64",
                            "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {},
                            "virtualizationType": "hvm", "hypervisor": "xen",
                            "tagSet": {"items": [{"key": "Name", "value": "sts-user-test"}]},
                            "groupSet": {"items": [{"groupId": "sg-0a9b8c7d6e5f40312",
                                                    "groupName": "launch-wizard-1"}]},
                            "sourceDestCheck": True, "ebsOptimized": False, "enaSupport": True,
                            "currentInstanceBootMode": "uefi"}]}}, **ec)
        rid = self.rng.uuid4()
        self.call(t=T("2026-11-19 14:22:41"), source="ec2.amazonaws.com", name="CreateTags",
                  ident=scon.identity(self.asia(DEV)), ua="console.ec2.amazonaws.com", ro=False, rid=rid,
                  req={"resourcesSet": {"items": [{"resourceId": new_instance}]},
                       "tagSet": {"items": [{"key": "Owner", "value": "sts_user"},
                                            {"key": "Environment", "value": "dev"}]}},
                  resp={"requestId": rid, "_return": True}, **ec)
        for tt in ["2026-11-19 14:23:10", "2026-11-19 14:23:40"]:
            self.call(t=T(tt), source="ec2.amazonaws.com", name="DescribeInstances",
                      ident=scon.identity(self.asia(DEV)), ua=UA_FIREFOX,
                      req={"instancesSet": {"items": [{"instanceId": new_instance}]}, "filterSet": {}}, **ec)

        # S5: deploy-bot -> prod ProdDeployRole (cross-account: two copies)
        self.call(t=T("2026-11-19 16:00:02"), source="sts.amazonaws.com", name="GetCallerIdentity", region=USE1,
                  ident=deploy_bot.identity(), ip="198.51.100.7", ua=UA_BOTO3, recipient=DEV,
                  tls="sts.amazonaws.com", story="S11", kind="noise")
        dep = self.assume_role(label="S5", story="S5", t=T("2026-11-19 16:00:04"), ident=deploy_bot.identity(),
                               ip="198.51.100.7", ua=UA_BOTO3, role=deploy_role, name="deploy-4711",
                               owner_ident={"type": "AWSAccount", "principalId": deploy_bot.aid, "accountId": DEV})
        di = dep.identity()
        stack_id = "arn:aws:cloudformation:eu-west-1:%s:stack/webapp-prod/%s" % (PROD, self.rng.uuid4())
        d = dict(region=EUW1, ident=di, ip="198.51.100.7", ua=UA_BOTO3, recipient=PROD, story="S5", session="S5")
        cfn = "cloudformation.amazonaws.com"
        self.call(t=T("2026-11-19 16:00:09"), source=cfn, name="DescribeStacks", req={"stackName": "webapp-prod"},
                  **d)
        self.call(t=T("2026-11-19 16:00:11"), source=cfn, name="UpdateStack", ro=False,
                  req={"stackName": "webapp-prod", "usePreviousTemplate": True,
                       "parameters": [{"parameterKey": "ImageTag", "parameterValue": "2026.11.19-4711"},
                                      {"parameterKey": "DesiredCount", "usePreviousValue": True}],
                       "capabilities": ["CAPABILITY_IAM"]},
                  resp={"stackId": stack_id}, **d)
        for i in range(9):  # waiting for UPDATE_COMPLETE
            self.call(t=T("2026-11-19 16:00:26") + timedelta(seconds=15 * i + (i % 3)), source=cfn,
                      name="DescribeStacks", req={"stackName": "webapp-prod"}, **d)
        svc_arn = "arn:aws:ecs:eu-west-1:%s:service/prod/webapp" % PROD
        self.call(t=T("2026-11-19 16:03:15"), source="ecs.amazonaws.com", name="UpdateService", ro=False,
                  req={"cluster": "prod", "service": "webapp", "taskDefinition": "webapp:42",
                       "forceNewDeployment": True},
                  resp={"service": {"serviceArn": svc_arn, "serviceName": "webapp",
                                    "clusterArn": "arn:aws:ecs:eu-west-1:%s:cluster/prod" % PROD,
                                    "status": "ACTIVE", "desiredCount": 3, "runningCount": 3, "pendingCount": 0,
                                    "launchType": "FARGATE",
                                    "taskDefinition": "arn:aws:ecs:eu-west-1:%s:task-definition/webapp:42" % PROD}},
                  **d)
        self.call(t=T("2026-11-19 16:06:21"), source=cfn, name="DescribeStacks", req={"stackName": "webapp-prod"},
                  **d)

        # S6: ops-admin -> OpsJumpRole (MFA, sourceIdentity) -> prod ProdReadOnly (chained, cross-account)
        jump = self.assume_role(label="S6-hop1", story="S6", t=T("2026-11-19 17:30:00"),
                                ident=ops_admin.identity(), ip="203.0.113.77", ua=UA_CLI_LINUX % "sts.assume-role",
                                role=jump_role, name="ops-admin",
                                extra_req={"serialNumber": "arn:aws:iam::%s:mfa/ops-admin" % DEV,
                                           "sourceIdentity": "ops-admin"},
                                extra_resp={"sourceIdentity": "ops-admin"})
        # ops-admin exports the hop-1 credentials, checks who they are, then assumes the prod role with them
        jid = jump.identity(mfa=True, extra={"sourceIdentity": "ops-admin"})
        self.call(t=T("2026-11-19 17:30:20"), source="sts.amazonaws.com", name="GetCallerIdentity", region=USE1,
                  ident=jid, ip="203.0.113.77", ua=UA_CLI_LINUX % "sts.get-caller-identity", recipient=DEV,
                  tls="sts.amazonaws.com", story="S6", session="S6-hop1")
        hop2 = self.assume_role(label="S6-hop2", story="S6", t=T("2026-11-19 17:30:41"), ident=jid,
                                ip="203.0.113.77", ua=UA_CLI_LINUX % "sts.assume-role", role=prodro_role,
                                name="ops-admin-prod", extra_req={"sourceIdentity": "ops-admin"},
                                extra_resp={"sourceIdentity": "ops-admin"},
                                owner_ident={"type": "AWSAccount", "principalId": jump.principal_id,
                                             "accountId": DEV})
        # the caller copy of the chained AssumeRole is a call made with hop 1's credentials
        for e in self.events:
            if e.session == "S6-hop2" and e.kind == "assume":
                e.parent = "S6-hop1"
        hi = hop2.identity(extra={"sourceIdentity": "ops-admin"})
        h = dict(region=EUW1, ident=hi, ip="203.0.113.77", recipient=PROD, story="S6", session="S6-hop2")
        self.call(t=T("2026-11-19 17:31:02"), source="ec2.amazonaws.com", name="DescribeInstances",
                  ua=UA_CLI_LINUX % "ec2.describe-instances", req={"instancesSet": {}, "filterSet": {}}, **h)
        self.call(t=T("2026-11-19 17:31:15"), source="rds.amazonaws.com", name="DescribeDBInstances",
                  ua=UA_CLI_LINUX % "rds.describe-db-instances", req=None, **h)
        self.call(t=T("2026-11-19 17:32:30"), source="rds.amazonaws.com", name="DescribeDBInstances",
                  ua=UA_CLI_LINUX % "rds.describe-db-instances",
                  req={"dBInstanceIdentifier": "orders-prod-db"}, **h)
        self.call(t=T("2026-11-19 17:34:50"), source="ec2.amazonaws.com", name="DescribeInstances",
                  ua=UA_CLI_LINUX % "ec2.describe-instances",
                  req={"instancesSet": {}, "filterSet": {"items": [
                      {"name": "tag:Name", "valueSet": {"items": [{"value": "web-*"}]}}]}}, **h)

        # ===================================== 2026-11-20 ==================================================
        # S10: EC2 instance profile: three AssumeRoles in one second, three keys; key #2 is used (IMDSv2)
        ec2t = T("2026-11-20 07:12:45")
        web = []
        for i, extra_min in enumerate([368, 374, 391]):
            s = self.assume_role(label="S10-k%d" % (i + 1), story="S10", t=ec2t,
                                 ident={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                                 ip="ec2.amazonaws.com", ua="ec2.amazonaws.com", role=web_role,
                                 name="i-0a1b2c3d4e5f60718", seconds=extra_min * 60 + 17 * i, send_duration=False,
                                 region=EUW1, service=True, tls=False)
            web.append(s)
        w = web[1]
        wi = w.identity(extra={"ec2RoleDelivery": "2.0"})
        wk = dict(ip="52.30.1.2", recipient=PROD, story="S10", session="S10-k2")
        self.call(t=T("2026-11-20 07:12:52"), source="ssm.amazonaws.com", name="UpdateInstanceInformation",
                  region=EUW1, ident=wi, ua=UA_SSM_AGENT, ro=False,
                  req={"instanceId": "i-0a1b2c3d4e5f60718", "agentVersion": "3.3.1142.0", "agentStatus": "Active",
                       "platformType": "Linux", "platformName": "Amazon Linux", "platformVersion": "2023",
                       "iPAddress": "10.0.1.25", "computerName": "ip-10-0-1-25.eu-west-1.compute.internal",
                       "agentName": "amazon-ssm-agent", "availabilityZone": "eu-west-1a",
                       "availabilityZoneId": "euw1-az2"}, **wk)
        for i, (tt, k) in enumerate([("2026-11-20 07:13:10", "nginx/nginx.conf"),
                                     ("2026-11-20 07:13:10", "app/settings.json")]):
            self.s3(t=T(tt), name="GetObject", ident=wi, ip="52.30.1.2", ua=UA_INSTANCE_APP, owner=PROD,
                    region=EUW1, bucket="acme-prod-webapp-config", key=k, size=1800 + 700 * i, story="S10",
                    session="S10-k2")
        self.call(t=T("2026-11-20 07:13:11"), source="ssm.amazonaws.com", name="GetParameters", region=EUW1,
                  ident=wi, ua=UA_INSTANCE_APP,
                  req={"names": ["/webapp/prod/db-host", "/webapp/prod/db-password"], "withDecryption": True},
                  **wk)
        self.call(t=T("2026-11-20 07:13:40"), source="ec2.amazonaws.com", name="DescribeTags", region=EUW1,
                  ident=wi, ua=UA_INSTANCE_CLI,
                  req={"filterSet": {"items": [{"name": "resource-id",
                                                "valueSet": {"items": [{"value": "i-0a1b2c3d4e5f60718"}]}}]}},
                  **wk)

        # S8: GitHub Actions OIDC -> GitHubActionsDeploy (regional STS endpoint, eu-west-1)
        oidc = "arn:aws:iam::%s:oidc-provider/token.actions.githubusercontent.com" % PROD
        sub = "repo:example-org/webapp:ref:refs/heads/main"
        gha = self.assume_role(
            label="S8", story="S8", t=T("2026-11-20 08:05:17"),
            ident={"type": "WebIdentityUser", "principalId": "%s:sts.amazonaws.com:%s" % (oidc, sub),
                   "userName": sub, "identityProvider": oidc},
            ip="4.148.0.10", ua=UA_GHA, role=gha_role, name="GitHubActions", region=EUW1,
            host="sts.eu-west-1.amazonaws.com",
            extra_resp={"subjectFromWebIdentityToken": sub, "provider": oidc, "audience": "sts.amazonaws.com"})
        ev = [e for e in self.events if e.session == "S8" and e.kind == "assume"][0]
        ev.rec["eventName"] = "AssumeRoleWithWebIdentity"
        ev.rec["additionalEventData"] = {"identityProviderConnectionVerificationMethod": "IAMTrustStore",
                                         "RequestDetails": {"awsServingRegion": EUW1, "endpointType": "regional"}}
        gi = gha.identity(web={"federatedProvider": oidc, "attributes": {}})
        files = ["index.html", "assets/app.4f2c9e1b.js", "assets/app.4f2c9e1b.css", "assets/vendor.81d07a3e.js",
                 "assets/logo.svg", "manifest.json", "robots.txt", "favicon.ico"]
        for i, f in enumerate(files):
            self.s3(t=T("2026-11-20 08:05:40") + timedelta(seconds=3 * i), name="PutObject", ident=gi,
                    ip="4.148.0.10", ua="[%s]" % (UA_GHA_CLI % "s3.sync"), owner=PROD, region=EUW1,
                    bucket="example-webapp-prod-assets", key=f, size=900 + 4111 * (i + 1), story="S8",
                    session="S8")
        self.call(t=T("2026-11-20 08:06:20"), source="cloudfront.amazonaws.com", name="CreateInvalidation",
                  region=USE1, ident=gi, ip="4.148.0.10", ua=UA_GHA_CLI % "cloudfront.create-invalidation",
                  recipient=PROD, ro=False,
                  req={"distributionId": "E2QWRUHAPOMQZL", "invalidationBatch": {
                      "paths": {"quantity": 1, "items": ["/*"]}, "callerReference": "cli-1795162000-482913"}},
                  resp={"location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/E2QWRUHAPOMQZL/"
                                    "invalidation/I3RV8Z9YB2Q5KX1DTN4WFG7HC",
                        "invalidation": {"id": "I3RV8Z9YB2Q5KX1DTN4WFG7HC", "status": "InProgress",
                                         "createTime": java_time(T("2026-11-20 08:06:20")),
                                         "invalidationBatch": {"paths": {"quantity": 1, "items": ["/*"]},
                                                               "callerReference": "cli-1795162000-482913"}}},
                  story="S8", session="S8")

        # S9: Lambda orders-processor; its first use is delivered in an EARLIER file than its AssumeRole
        lam = self.assume_role(label="S9", story="S9", t=T("2026-11-20 09:40:27"),
                               ident={"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
                               ip="lambda.amazonaws.com", ua="lambda.amazonaws.com", role=lambda_role,
                               name="orders-processor", seconds=43200, send_duration=False, region=EUW1,
                               service=True, tls=False, delay=1)
        li = lam.identity()
        stream = "2026/11/20/[$LATEST]" + self.rng.hex(32)
        self.call(t=T("2026-11-20 09:40:27"), source="logs.amazonaws.com", name="CreateLogStream", region=EUW1,
                  ident=li, ip="3.250.12.34", ua=UA_LAMBDA_WORKER, recipient=PROD, ro=False,
                  req={"logGroupName": "/aws/lambda/orders-processor", "logStreamName": stream},
                  story="S9", session="S9")
        plan = [(0, "GetItem"), (1, "PutItem"), (14, "GetItem"), (15, "PutItem"), (38, "GetItem"), (39, "PutItem"),
                (95, "PutItem"), (130, "GetItem"), (131, "PutItem"), (202, "PutItem"), (266, "GetItem"),
                (267, "PutItem"), (301, "GetItem"), (302, "PutItem"), (355, "PutItem"), (410, "GetItem"),
                (411, "PutItem"), (470, "PutItem"), (500, "GetItem"), (501, "PutItem"), (540, "PutItem"),
                (556, "GetItem"), (557, "PutItem"), (571, "PutItem")]
        for off, nm in plan:
            self.ddb(t=T("2026-11-20 09:40:28") + timedelta(seconds=off), name=nm, sess=lam, story="S9")
        stream2 = "2026/11/20/[$LATEST]" + self.rng.hex(32)
        self.call(t=T("2026-11-20 09:46:02"), source="logs.amazonaws.com", name="CreateLogStream", region=EUW1,
                  ident=li, ip="3.250.12.34", ua=UA_LAMBDA_WORKER, recipient=PROD, ro=False,
                  req={"logGroupName": "/aws/lambda/orders-processor", "logStreamName": stream2},
                  story="S9", session="S9")

        return self


# ---------------------------------------------------------------------------------------------------------
# files


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()


# The delivery that is re-delivered verbatim later (CloudTrail does deliver duplicates)
DUP_SOURCE = (DEV, EUW1, "20261119T1045Z")
DUP_AGAIN_AT = datetime(2026, 11, 19, 10, 55, tzinfo=timezone.utc)
DIGEST_AT = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)


def layout(trail):
    """Return {relative path: bytes} for the whole AWSLogs tree."""
    rng = trail.rng
    groups = {}
    for ev in trail.events:
        slot = delivery_slot(ev.t, ev.delay)
        groups.setdefault((ev.folder, ev.region, slot), []).append(ev)
    out = {}
    meta = []
    for (acct, region, slot) in sorted(groups, key=lambda k: (k[2], k[0], k[1])):
        evs = groups[(acct, region, slot)]
        recs = [e.rec for e in sorted(evs, key=lambda e: e.rec["eventTime"])]
        rng.shuffle(recs)
        name = "%s_CloudTrail_%s_%s_%s.json.gz" % (acct, region, slot.strftime("%Y%m%dT%H%MZ"),
                                                   rng.chars(ALNUM, 16))
        path = "AWSLogs/%s/%s/CloudTrail/%s/%s/%s" % (ORG, acct, region, slot.strftime("%Y/%m/%d"), name)
        body = dumps({"Records": recs}).encode()
        out[path] = gz(body)
        meta.append((acct, region, slot, path, body, recs))
        if (acct, region, slot.strftime("%Y%m%dT%H%MZ")) == DUP_SOURCE:
            again = DUP_AGAIN_AT
            name2 = "%s_CloudTrail_%s_%s_%s.json.gz" % (acct, region, again.strftime("%Y%m%dT%H%MZ"),
                                                        rng.chars(ALNUM, 16))
            path2 = "AWSLogs/%s/%s/CloudTrail/%s/%s/%s" % (ORG, acct, region, again.strftime("%Y/%m/%d"), name2)
            out[path2] = gz(body)
            meta.append((acct, region, again, path2, body, recs))
    # one hourly digest for the dev account's us-east-1 deliveries between 09:00 and 10:00 on 2026-11-19
    start = DIGEST_AT - timedelta(hours=1)
    listed = [m for m in meta if m[0] == DEV and m[1] == USE1 and start < m[2] <= DIGEST_AT]
    stamp = DIGEST_AT.strftime("%Y%m%dT%H%M%SZ")
    dname = "%s_CloudTrail-Digest_%s_%s_%s_%s.json.gz" % (DEV, USE1, TRAIL, USE1, stamp)
    dpath = "AWSLogs/%s/%s/CloudTrail-Digest/%s/%s/%s" % (ORG, DEV, USE1, DIGEST_AT.strftime("%Y/%m/%d"), dname)
    prev = (DIGEST_AT - timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    log_files = []
    for acct, region, slot, path, body, recs in listed:
        times = sorted(r["eventTime"] for r in recs)
        log_files.append({"s3Bucket": LOG_BUCKET, "s3Object": path, "hashValue": hashlib.sha256(body).hexdigest(),
                          "hashAlgorithm": "SHA-256", "newestEventTime": times[-1], "oldestEventTime": times[0]})
    all_times = sorted(t for lf in log_files for t in (lf["newestEventTime"], lf["oldestEventTime"]))
    digest = {
        "awsAccountId": DEV, "digestStartTime": ts(start), "digestEndTime": ts(DIGEST_AT),
        "digestS3Bucket": LOG_BUCKET, "digestS3Object": dpath,
        "digestPublicKeyFingerprint": rng.hex(32), "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": all_times[-1], "oldestEventTime": all_times[0],
        "previousDigestS3Bucket": LOG_BUCKET,
        "previousDigestS3Object": dpath.replace(stamp, prev),
        "previousDigestHashValue": rng.hex(64), "previousDigestHashAlgorithm": "SHA-256",
        "previousDigestSignature": rng.hex(512), "logFiles": log_files,
    }
    out[dpath] = gz(dumps(digest).encode())
    return out


def generate():
    trail = Trail().build()
    return trail, layout(trail)


def write_tree(outdir, files):
    target = os.path.join(outdir, "AWSLogs")
    if os.path.basename(target) != "AWSLogs":
        raise SystemExit("refusing to delete %s" % target)
    if os.path.isdir(target):
        shutil.rmtree(target)
    for rel in sorted(files):
        p = os.path.join(outdir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(files[rel])


# ---------------------------------------------------------------------------------------------------------
# reading back and rebuilding the sessions (independent of the generator's bookkeeping)

ASSUME = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")
LOG_RE = re.compile(r"^(\d{12})_CloudTrail_([\w-]+)_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json\.gz$")


def read_tree(outdir):
    logs, digests, other = [], [], []
    for dirpath, _, names in os.walk(os.path.join(outdir, "AWSLogs")):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), outdir).replace(os.sep, "/")
            if "_CloudTrail-Digest_" in n:
                digests.append(rel)
            elif LOG_RE.match(n):
                logs.append(rel)
            else:
                other.append(rel)
    logs.sort()
    files = []
    for rel in logs:
        with gzip.open(os.path.join(outdir, rel), "rb") as f:
            raw = f.read()
        files.append((rel, raw, json.loads(raw)["Records"]))
    return files, sorted(digests), sorted(other)


def g(d, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def rebuild(files):
    seen, records, dups = set(), [], 0
    for rel, _, recs in files:
        for r in recs:
            if r["eventID"] in seen:
                dups += 1
                continue
            seen.add(r["eventID"])
            records.append(r)
    total = sum(len(recs) for _, _, recs in files)

    assumes = [r for r in records if r["eventSource"] == "sts.amazonaws.com" and r["eventName"] in ASSUME]
    groups = {}
    for r in assumes:
        groups.setdefault(r.get("sharedEventID") or r["eventID"], []).append(r)
    switches = [r for r in records if r["eventSource"] == "signin.amazonaws.com" and r["eventName"] == "SwitchRole"]

    sessions = []
    for copies in groups.values():
        copies.sort(key=lambda r: r["userIdentity"].get("type") == "AWSAccount")
        r = copies[0]
        ui, req, resp = r["userIdentity"], r.get("requestParameters") or {}, r.get("responseElements") or {}
        s = {"copies": [c["eventID"] for c in copies], "event_name": r["eventName"], "assumed_at": r["eventTime"],
             "success": "errorCode" not in r, "error_code": r.get("errorCode"), "region": r["awsRegion"],
             "source_type": ui.get("type"), "source_ip": r["sourceIPAddress"], "user_agent": r["userAgent"],
             "event_id": r["eventID"], "switch_event_id": None, "console": False}
        role_arn = req.get("roleArn")
        if not role_arn:
            m = re.search(r"on resource: (arn:\S+)", r.get("errorMessage", ""))
            role_arn = m.group(1) if m else None
        s["role_arn"] = role_arn
        s["role_account"] = role_arn.split(":")[4]
        s["session_name"] = req.get("roleSessionName")
        s["access_key_id"] = g(resp, "credentials", "accessKeyId")
        s["expires_at"] = g(resp, "credentials", "expiration")
        arn = g(resp, "assumedRoleUser", "arn")
        if not arn and s["success"]:
            arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (s["role_account"], role_arn.split("/")[-1],
                                                         s["session_name"])
        s["session_arn"] = arn
        t = ui.get("type")
        if t in ("IAMUser", "AssumedRole", "Root"):
            src = ui.get("arn")
        elif t == "AWSService":
            src = ui.get("invokedBy")
        elif t == "SAMLUser":
            src = "%s:%s" % (req.get("principalArn"), ui.get("userName"))
        elif t == "WebIdentityUser":
            src = "%s:%s" % (ui.get("identityProvider"), ui.get("userName"))
        elif t == "AWSAccount":
            src = "aws-account:%s/%s" % (ui.get("accountId"), ui.get("principalId"))
        else:
            src = "unknown"
        s["source_principal"] = src
        s["caller_account"] = ui.get("accountId") if t not in ("AWSService", "SAMLUser", "WebIdentityUser") \
            else s["role_account"]
        s["cross_account"] = s["caller_account"] != s["role_account"]
        s["mfa"] = "serialNumber" in req or g(ui, "sessionContext", "attributes", "mfaAuthenticated") == "true"
        s["source_identity"] = req.get("sourceIdentity") or g(ui, "sessionContext", "sourceIdentity")
        s["caller_key"] = ui.get("accessKeyId") if t == "AssumedRole" else None
        s["caller_created"] = g(ui, "sessionContext", "attributes", "creationDate") if t == "AssumedRole" else None
        if r["sourceIPAddress"] == "AWS Internal" and ui.get("invokedBy") == "AWS Internal" and arn:
            for sw in switches:
                if sw["userIdentity"].get("arn") == arn and sw["eventTime"] == r["eventTime"]:
                    s.update(console=True, event_name="SwitchRole", switch_event_id=sw["eventID"],
                             source_ip=sw["sourceIPAddress"], user_agent=sw["userAgent"],
                             switch_from=g(sw, "additionalEventData", "SwitchFrom"))
        sessions.append(s)

    # link calls
    by_key = {(s["access_key_id"], s["assumed_at"]): s for s in sessions if s["access_key_id"]}
    by_console = {(s["session_arn"], s["assumed_at"]): s for s in sessions if s["console"]}
    for s in sessions:
        s["events"] = []
    assumption_ids = {eid for s in sessions for eid in s["copies"]}
    switch_ids = {s["switch_event_id"] for s in sessions if s["switch_event_id"]}
    inferred, unlinked = {}, []
    for r in records:
        if r["eventID"] in switch_ids:
            continue
        ui = r["userIdentity"]
        cd = g(ui, "sessionContext", "attributes", "creationDate")
        s = by_key.get((ui.get("accessKeyId"), cd))
        if s is None and ui.get("type") == "AssumedRole":
            s = by_console.get((ui.get("arn"), cd))
        if s is not None:
            s["events"].append(r)
        elif r["eventID"] in assumption_ids:
            continue
        elif ui.get("type") == "AssumedRole":
            inferred.setdefault((ui.get("arn"), cd), []).append(r)
        else:
            unlinked.append(r)
    # chains
    for s in sessions:
        p = by_key.get((s["caller_key"], s["caller_created"])) if s["caller_key"] else None
        s["parent"] = p
    for s in sessions:
        depth, cur = 1, s
        while cur["parent"] is not None:
            depth, cur = depth + 1, cur["parent"]
        s["chain_depth"] = depth
        s["origin_principal"] = cur.get("switch_from") or cur["source_principal"]
        s["parent_access_key_id"] = s["parent"]["access_key_id"] if s["parent"] else None
        ev = sorted(s["events"], key=lambda r: (r["eventTime"], r["eventID"]))
        s["event_count"] = len(ev)
        s["actions"] = sorted({"%s/%s" % (r["eventSource"].split(".")[0], r["eventName"]) for r in ev})
        s["error_count"] = sum(1 for r in ev if "errorCode" in r)
        s["first_event_at"] = ev[0]["eventTime"] if ev else None
        s["last_event_at"] = ev[-1]["eventTime"] if ev else None
        ips = []
        for r in ev:
            if r["sourceIPAddress"] not in ips:
                ips.append(r["sourceIPAddress"])
        s["source_ips"] = ips
    sessions.sort(key=lambda s: (s["assumed_at"], s["event_id"]))
    return {"records_total": total, "records_unique": len(records), "duplicates": dups, "records": records,
            "sessions": sessions, "inferred": inferred, "unlinked": unlinked}


# ---------------------------------------------------------------------------------------------------------
# checks


def check(outdir, verbose=True):
    problems = []

    def req(cond, msg):
        if not cond:
            problems.append(msg)

    trail, expected_files = generate()
    files, digests, other = read_tree(outdir)
    # 1. the tree on disk is exactly what the generator makes now (so: deterministic)
    on_disk = {}
    for dirpath, _, names in os.walk(os.path.join(outdir, "AWSLogs")):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                on_disk[os.path.relpath(p, outdir).replace(os.sep, "/")] = f.read()
    req(on_disk == expected_files, "tree on disk differs from a fresh generation (not deterministic, or stale)")
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        write_tree(a, generate()[1])
        write_tree(b, generate()[1])
        ha, hb = tree_hash(a), tree_hash(b)
    req(ha == hb == tree_hash(outdir), "two fresh runs are not byte-identical")
    req(not other, "unexpected files: %s" % other)

    # 2. file layout
    for rel, raw, recs in files:
        parts = rel.split("/")
        m = LOG_RE.match(parts[-1])
        acct, region, stamp = m.group(1), m.group(2), m.group(3)
        req(parts[:3] == ["AWSLogs", ORG, acct] and parts[3] == "CloudTrail" and parts[4] == region,
            "bad path %s" % rel)
        req("/".join(parts[5:8]) == "%s/%s/%s" % (stamp[:4], stamp[4:6], stamp[6:8]), "date folder != delivery %s"
            % rel)
        times = [r["eventTime"] for r in recs]
        deliv = "%s-%s-%sT%s:%s:00Z" % (stamp[:4], stamp[4:6], stamp[6:8], stamp[9:11], stamp[11:13])
        req(max(times) < deliv, "event after delivery in %s" % rel)
        for r in recs:
            req(r["recipientAccountId"] == acct, "recipient != folder in %s" % rel)
            req(r["awsRegion"] == region, "awsRegion != folder in %s" % rel)
    multi = [recs for _, _, recs in files if len(recs) >= 3]
    req(sum(1 for recs in multi if [r["eventTime"] for r in recs] != sorted(r["eventTime"] for r in recs))
        >= len(multi) // 2, "too many files are in time order")

    # 3. record shapes
    uuid_re = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    exp_re = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M$")
    key_re = re.compile(r"^(AKIA|ASIA)[A-Z2-7]{16}$")
    token_holders = 0
    for rel, raw, recs in files:
        for r in recs:
            req(uuid_re.match(r["eventID"]) is not None, "eventID %s" % r["eventID"])
            req(r["eventVersion"] in ("1.08", "1.09", "1.10", "1.11"), "eventVersion")
            req(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["eventTime"]) is not None, "eventTime")
            req("2026-11-18" <= r["eventTime"][:10] <= "2026-11-20", "date range")
            k = r["userIdentity"].get("accessKeyId")
            if k:
                req(key_re.match(k) is not None, "key %s" % k)
                req(account_of_id(k) == (r["userIdentity"]["accountId"]), "key %s does not encode its account" % k)
            tok = g(r, "responseElements", "credentials", "sessionToken")
            if tok:
                token_holders += 1
                req(tok.startswith("IQoJb3JpZ2luX2Vj"), "token prefix")
                req(exp_re.match(r["responseElements"]["credentials"]["expiration"]) is not None, "expiration")
                req(key_re.match(r["responseElements"]["credentials"]["accessKeyId"]) is not None, "issued key")
            for res in r.get("resources") or []:
                req("ARN" in res or "ARNPrefix" in res, "resource without ARN")
    # session tokens: only ever in responseElements.credentials.sessionToken
    blob = b"\n".join(raw for _, raw, _ in files)
    for tok in trail.tokens:
        n_in_creds = sum(1 for _, _, recs in files for r in recs
                         if g(r, "responseElements", "credentials", "sessionToken") == tok)
        req(blob.count(tok.encode()) == n_in_creds and n_in_creds >= 1, "session token leaks or is missing")
    for d in digests:
        with gzip.open(os.path.join(outdir, d)) as f:
            body = json.load(f)
        req("Records" not in body and body["awsAccountId"] == DEV, "digest body")
        for lf in body["logFiles"]:
            with gzip.open(os.path.join(outdir, lf["s3Object"])) as f:
                req(hashlib.sha256(f.read()).hexdigest() == lf["hashValue"], "digest hash %s" % lf["s3Object"])

    # 4. sessions rebuilt from the files == what the generator meant
    rb = rebuild(files)
    intent = {}
    for ev in trail.events:
        if ev.session and ev.kind in ("call",):
            intent.setdefault(ev.session, set()).add(ev.rec["eventID"])
        if getattr(ev, "parent", None) and ev.kind == "assume":
            intent.setdefault(ev.parent, set()).add(ev.rec["eventID"])
    label_of = {}
    for ev in trail.events:
        if ev.kind in ("assume", "assume-denied", "assume-owner-copy"):
            label_of[ev.rec["eventID"]] = ev.session
    for s in rb["sessions"]:
        labels = {label_of[e] for e in s["copies"]}
        req(len(labels) == 1, "copies of one assumption mean different sessions: %s" % labels)
        s["label"] = labels.pop()
        s["story"] = s["label"].split("-")[0]
        got = {r["eventID"] for r in s["events"]}
        req(got == intent.get(s["label"], set()),
            "%s: linked %d events, meant %d" % (s["label"], len(got), len(intent.get(s["label"], ()))))
        for r in s["events"]:
            cd = g(r, "userIdentity", "sessionContext", "attributes", "creationDate")
            req(cd == s["assumed_at"], "%s: creationDate %s != %s" % (s["label"], cd, s["assumed_at"]))
            if s["console"]:
                req(r["userIdentity"].get("accessKeyId") != s["access_key_id"], "console call uses the issued key")
                req(r.get("sessionCredentialFromConsole") == "true", "console call without the console flag")
    req(len({s["label"] for s in rb["sessions"]}) == len(rb["sessions"]), "two sessions with one label")
    inf = rb["inferred"]
    req(len(inf) == 1 and {r["eventID"] for v in inf.values() for r in v} == intent["S14"], "inferred session S14")
    # console keys all differ and are never the issued one
    for s in rb["sessions"]:
        if s["console"]:
            keys = [r["userIdentity"]["accessKeyId"] for r in s["events"]]
            req(len(set(keys)) == len(keys), "console keys repeat")
    # the Lambda's first use is in an earlier file than its AssumeRole
    lam = [s for s in rb["sessions"] if s["label"] == "S9"][0]
    file_of = {}
    for rel, _, recs in files:
        for r in recs:
            file_of.setdefault(r["eventID"], rel)
    first = min(lam["events"], key=lambda r: (r["eventTime"], r["eventName"] != "CreateLogStream"))
    req(first["eventTime"] == lam["assumed_at"] and LOG_RE.match(file_of[first["eventID"]].split("/")[-1]).group(3)
        < LOG_RE.match(file_of[lam["event_id"]].split("/")[-1]).group(3), "lambda first use not delivered earlier")
    # the duplicate delivery
    req(rb["duplicates"] > 0, "no duplicate delivery")
    n_files = len(files) + len(digests)
    req(20 <= n_files <= 40, "file count %d" % n_files)
    req(150 <= rb["records_total"] <= 400, "record count %d" % rb["records_total"])
    rb["files"], rb["digests"] = files, digests
    rb["problems"] = problems
    return rb


def tree_hash(outdir):
    h = hashlib.sha256()
    root = os.path.join(outdir, "AWSLogs")
    for dirpath, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(dirpath, n)
            h.update(os.path.relpath(p, outdir).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# the facts, as markdown

STORY_TITLES = {
    "S1": "James: CLI AssumeRole, then a console switch to the same role",
    "S2": "natan: MyApp/MyS3Access with an external id, S3 data events",
    "S3": "sts_user: two denied AssumeRoles, then a console switch to AWSEC2FULLACCESS",
    "S4": "temp-user: session policy, 900 s",
    "S5": "deploy-bot: cross-account into prod (two copies)",
    "S6": "ops-admin: MFA + sourceIdentity, then a chained cross-account hop",
    "S7": "SAML (Okta): alice@example.com into SAML-Admins",
    "S8": "GitHub Actions OIDC into GitHubActionsDeploy",
    "S9": "Lambda orders-processor (first use delivered before the AssumeRole)",
    "S10": "EC2 instance profile: three AssumeRoles in one second",
    "S13": "Outside account 777788889999 (not in the org): only the role owner's copy exists",
}


def facts_markdown(rb):
    out = []
    w = out.append
    files, digests = rb["files"], rb["digests"]
    sessions = rb["sessions"]
    linked = sum(s["event_count"] for s in sessions)
    inferred_events = sum(len(v) for v in rb["inferred"].values())
    switch_n = sum(1 for s in sessions if s["switch_event_id"])
    copies_n = sum(len(s["copies"]) for s in sessions)
    w("## Totals\n")
    w("| fact | value |")
    w("|---|---|")
    w("| log files (`*_CloudTrail_*.json.gz`) | %d |" % len(files))
    w("| digest files (`CloudTrail-Digest`, no `Records`) | %d: `%s` |" % (len(digests), "`, `".join(digests)))
    w("| files in all | %d |" % (len(files) + len(digests)))
    w("| records in all files | %d |" % rb["records_total"])
    w("| duplicate records (same `eventID` delivered twice) | %d |" % rb["duplicates"])
    w("| unique records | %d |" % rb["records_unique"])
    w("| assumption attempts (sessions; cross-account copies merged, console switch = 1) | %d (%d successful, "
      "%d failed) |" % (len(sessions), sum(s["success"] for s in sessions),
                        sum(not s["success"] for s in sessions)))
    w("| assumption records (all copies) + SwitchRole records | %d + %d |" % (copies_n, switch_n))
    w("| inferred sessions (calls whose assumption is not in the input) | %d (%d events) |"
      % (len(rb["inferred"]), inferred_events))
    w("| events linked to a session (`event_count` summed; includes the caller copy of the chained AssumeRole) "
      "| %d |" % linked)
    w("| events that belong to no session | %d |" % len(rb["unlinked"]))
    w("")
    w("Check: %d unique = %d assumption records + %d SwitchRole + %d linked + %d inferred + %d unlinked, minus 1 "
      "(the caller copy of the chained AssumeRole is both an assumption record and an event of its parent)."
      % (rb["records_unique"], copies_n, switch_n, linked, inferred_events, len(rb["unlinked"])))
    w("")
    by_story = {}
    for s in sessions:
        by_story.setdefault(s["story"], []).append(s)
    for story in sorted(by_story, key=lambda k: int(k[1:])):
        w("## %s. %s\n" % (story, STORY_TITLES[story]))
        for s in by_story[story]:
            w("### `%s`\n" % s["label"])
            w("| fact | value |")
            w("|---|---|")
            rows = [
                ("event_name", s["event_name"]), ("success", s["success"]), ("error_code", s["error_code"]),
                ("role_arn", s["role_arn"]), ("session_name", s["session_name"]),
                ("session_arn", s["session_arn"]), ("access_key_id (issued)", s["access_key_id"]),
                ("source_type", s["source_type"]), ("source_principal", s["source_principal"]),
                ("origin_principal", s["origin_principal"]), ("chain_depth", s["chain_depth"]),
                ("parent_access_key_id", s["parent_access_key_id"]),
                ("assumed_at", s["assumed_at"]), ("expires_at", s["expires_at"]), ("aws_region", s["region"]),
                ("source_ip", s["source_ip"]), ("user_agent", s["user_agent"]),
                ("caller_account", s["caller_account"]), ("role_account", s["role_account"]),
                ("cross_account", s["cross_account"]), ("mfa", s["mfa"]),
                ("source_identity", s["source_identity"]),
                ("event_count", s["event_count"]), ("distinct_actions", len(s["actions"])),
                ("actions", ", ".join(s["actions"])), ("error_count", s["error_count"]),
                ("first_event_at", s["first_event_at"]), ("last_event_at", s["last_event_at"]),
                ("source_ips", ";".join(s["source_ips"])),
                ("event_id (caller copy / only copy)", s["event_id"]),
                ("all assumption record eventIDs", ", ".join(s["copies"])),
                ("SwitchRole eventID", s["switch_event_id"]),
            ]
            for k, v in rows:
                if v is None or v == "":
                    v = "—"
                elif isinstance(v, bool):
                    v = str(v).lower()
                w("| %s | `%s` |" % (k, v) if v != "—" else "| %s | — |" % k)
            w("")
    w("## S14. Inferred: an EC2 instance credential issued before the log window\n")
    for (arn, cd), evs in sorted(rb["inferred"].items()):
        evs = sorted(evs, key=lambda r: r["eventTime"])
        w("| fact | value |")
        w("|---|---|")
        w("| session_arn | `%s` |" % arn)
        w("| creationDate (assumed_at of the inferred session) | `%s` |" % cd)
        w("| role (from sessionIssuer) | `%s` |" % g(evs[0], "userIdentity", "sessionContext", "sessionIssuer",
                                                    "arn"))
        w("| access key used | `%s` |" % evs[0]["userIdentity"]["accessKeyId"])
        w("| event_count | `%d` |" % len(evs))
        w("| actions | `%s` |" % ", ".join(sorted({"%s/%s" % (r["eventSource"].split(".")[0], r["eventName"])
                                                    for r in evs})))
        w("| first_event_at / last_event_at | `%s` / `%s` |" % (evs[0]["eventTime"], evs[-1]["eventTime"]))
        w("")
    w("## Events that belong to no session\n")
    w("| eventTime | eventSource/eventName | userIdentity.type | arn | eventID |")
    w("|---|---|---|---|---|")
    for r in sorted(rb["unlinked"], key=lambda r: (r["eventTime"], r["eventID"])):
        ui = r["userIdentity"]
        w("| %s | %s/%s | %s | %s | `%s` |" % (r["eventTime"], r["eventSource"].split(".")[0], r["eventName"],
                                              ui.get("type"), ui.get("arn") or ui.get("userName"), r["eventID"]))
    w("")
    return "\n".join(out)


PREAMBLE = """# Stories in the sample trail

`sample-logs/AWSLogs/` is written by `python3 tools/sample_logs.py` (deterministic: the same bytes on every run).
`python3 tools/sample_logs.py --check` reads the files back, rebuilds every session with a small independent
linker, compares the result with what the generator meant and prints the facts below;
`python3 tools/sample_logs.py --write-stories` rewrites this file from those facts. Do not edit the tables by hand.

Everything is invented: organisation `o-7kq2x9vd4m`; `210987654321` (dev: the IAM users), `345678901234` (prod),
and `777788889999`, an OUTSIDE account that is not in the organisation (no logs of its own). Regions: `us-east-1`
(IAM, the STS global endpoint, sign-in, CloudFront) and `eu-west-1` (workloads). Dates 2026-11-18 to 2026-11-20 UTC.
Access keys and unique ids encode their account in characters 4..13 the way post-2019 AWS ids do.

## How the numbers are counted

- One session per assumption attempt: denied ones included; the two copies of a cross-account AssumeRole (same
  `sharedEventID` and `requestID`) are one session whose `event_id` is the caller copy's; a console switch (AssumeRole
  by `AWS Internal` + `SwitchRole`, same second) is one session, with the browser's address and user agent and
  `origin_principal` = `SwitchFrom`.
- `event_count`: records (after de-duplication by `eventID`) made with the session's credentials:
  `userIdentity.accessKeyId` = the issued key and `creationDate` = the assumption's `eventTime`; for console
  sessions, `userIdentity.arn` = the session ARN and `creationDate` = the switch time (every console call uses a
  different key, never the issued one). Not counted: the session's own assumption records and the `SwitchRole`.
  Counted: the caller copy of a chained AssumeRole, as a call of the parent session (so `S6-hop1` has 2: its
  GetCallerIdentity and the AssumeRole into ProdReadOnly). A tool that leaves child assumptions out of the
  parent's count gets 1 there.
- `distinct_actions` counts `eventSource`/`eventName` pairs, written here as `service/EventName`.
- `mfa`: `serialNumber` in the request, or the caller's session has `mfaAuthenticated: "true"` (so the chained hop
  `S6-hop2` is `true` although ProdReadOnly's own records say `"false"`).
- `source_principal`: user or role-session ARN; the AWS service; `<SAML provider ARN>:<subject>`;
  `<OIDC provider ARN>:<subject>`; `aws-account:<account>/<principal id>` when only the role owner's copy exists.
  `origin_principal` follows chains to their head and console switches to `SwitchFrom`.
- `cross_account`: the caller's account differs from the role's (for service, SAML and OIDC callers the caller's
  account is taken to be the role's).

## What each story tests

- **S1 James**: the same role assumed from the CLI (key linking; uses in two regions and in a later delivery file)
  and by a console switch (`Radkowski-CLI-test` vs `James`; console calls use fresh keys, linked on ARN +
  `creationDate`; S3 data events; the AssumeRole's `userIdentity` is James's console session, `invokedBy: AWS Internal`).
- **S2 natan**: IAM path `/MyApp/` dropped in the session ARN; `externalId`; S3 data events (`managementEvent: false`);
  the eu-west-1 file holding them is delivered twice (`20261119T1045Z` and `20261119T1055Z`): same `eventID`s.
- **S3 sts_user**: two `AccessDenied` AssumeRoles with `requestParameters: null` (role only in `errorMessage`),
  then a console switch and EC2 work in eu-west-1 (Describe*, RunInstances, CreateTags).
- **S4 temp-user**: inline session `policy`, `durationSeconds: 900`; one call denied by the session policy.
- **S5 deploy-bot**: cross-account: caller copy in 210987654321, role-owner copy (`AWSAccount`) in 345678901234,
  same `requestID`/`sharedEventID`/`responseElements`; activity in the prod account.
- **S6 ops-admin**: MFA (`serialNumber`), `sourceIdentity` carried through a chain; hop 2 is cross-account; the
  role-owner copy of hop 2 names the caller only as `AROA…:ops-admin`.
- **S7 SAML**: `AssumeRoleWithSAML`, `SAMLUser` identity, SAML provider resource.
- **S8 OIDC**: `AssumeRoleWithWebIdentity` on the regional endpoint (filed in eu-west-1); S3 data events; CloudFront.
- **S9 Lambda**: `AWSService` caller, response without `assumedRoleUser` (derive the ARN, path `service-role/`
  dropped), `sharedEventID`; the first use (CreateLogStream, same second) is in the file delivered at 09:45Z, the
  AssumeRole in the 09:50Z file.
- **S10 EC2**: three keys for one instance in one second; only key #2 is used (`ec2RoleDelivery: "2.0"`);
  the three sessions share ARN and `creationDate` and differ only by key.
- **S11 noise**: James's, deploy-bot's and natan's own long-term keys (IAMUser, AKIA), IAM-user console sessions
  (`sessionContext.sessionIssuer: {}`), ConsoleLogins (one with MFA, one failed): no session.
- **S12 noise**: the duplicate delivery (S2) and the digest file.
- **S13 outside** (added; the brief named the outside account but gave it no story): a user in 777788889999
  assumes `ExternalAuditRole` in prod with an `externalId`; only the role owner's copy exists, so the source is
  `aws-account:777788889999/AIDA…`.
- **S14 inferred** (added): calls on 2026-11-18 by the same instance role session ARN as S10 but with
  `creationDate` 2026-11-17T21:47:03Z, whose AssumeRole is before the log window.

"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="read the tree back, verify, print the facts")
    ap.add_argument("--write-stories", action="store_true", help="rewrite tools/SAMPLE_STORIES.md")
    args = ap.parse_args(argv)
    if not (args.check or args.write_stories):
        trail, files = generate()
        write_tree(args.outdir, files)
        n = sum(1 for p in files if "_CloudTrail_" in p)
        print("wrote %d files (%d log files, %d digest) with %d records under %s" % (
            len(files), n, len(files) - n, sum(len(json.loads(gzip.decompress(b))["Records"])
                                               for p, b in files.items() if "_CloudTrail_" in p),
            os.path.join(args.outdir, "AWSLogs")))
        return 0
    rb = check(args.outdir)
    md = facts_markdown(rb)
    if args.write_stories:
        with open(STORIES_MD, "w", encoding="utf-8") as f:
            f.write(PREAMBLE + md)
        print("wrote %s" % STORIES_MD)
    if args.check:
        print(md)
    if rb["problems"]:
        print("PROBLEMS:", file=sys.stderr)
        for p in rb["problems"]:
            print("  - " + p, file=sys.stderr)
        return 1
    print("check: OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
