#!/usr/bin/env python3
"""moto's S3 with IAM enforced, to prove an IAM policy (scripts/harness/svc/s3 with
ALMANAC_S3_IAM_POLICY; run with the harness venv's python).

  s3_iam.py serve HOST PORT REQUEST_LOG
      moto_server's own WSGI app, plus one JSON line per request appended to REQUEST_LOG
      (method, raw URI, signing access key, x-amz-* and If-* headers, status): the record of
      every S3 operation, for what moto's IAM does not check (conditions, CopyObject's read of
      its source, HeadBucket's action). Starts with INITIAL_NO_AUTH_ACTION_COUNT=inf: nothing
      is enforced until `setup` switches it on.

  s3_iam.py setup URL POLICY_JSON
      With moto's default credentials (still free): creates every bucket the policy names, an
      admin user (inline policy Allow * on *) and a user whose inline user policy is
      POLICY_JSON, an access key for each; then sets INITIAL_NO_AUTH_ACTION_COUNT to 0 through
      POST /moto-api/reset-auth (what moto's own set_initial_no_auth_action_count does in server
      mode), so every later request must be signed by one of those keys and is checked against
      its user's policies. Checks that enforcement is on (an unknown key is refused, the admin
      key accepted) and prints KEY=VALUE lines for s3.env.

Why not a fixed INITIAL_NO_AUTH_ACTION_COUNT=N at start: moto counts every request that reaches
an authorization check (the readiness probe's GET / too), so N would depend on how many probes
the harness happened to make.
"""

import json
import os
import sys
import threading
import time
import urllib.request

ADMIN_USER = "almanac-test-admin"
POLICY_USER = "almanac-archiver"
POLICY_NAME = "s3-archive-policy"


def serve(host, port, log_path):
    # Before moto is imported: moto.settings reads it once.
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "inf"
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    log = open(log_path, "a", encoding="utf-8")

    def recording(environ, start_response):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        key = auth.partition("Credential=")[2].partition("/")[0]
        headers = {}
        for name, value in environ.items():
            if not name.startswith("HTTP_"):
                continue
            header = name[5:].lower().replace("_", "-")
            if (header.startswith("x-amz-") or header.startswith("if-")) and header not in (
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-user-agent",
            ):
                headers[header] = value
        entry = {
            "time": time.time(),
            "method": environ.get("REQUEST_METHOD"),
            "uri": environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO"),
            "host": environ.get("HTTP_HOST", ""),
            "access_key": key,
            "headers": headers,
        }

        def start(status, response_headers, exc_info=None):
            entry["status"] = int(status.split(" ", 1)[0])
            with lock:
                log.write(json.dumps(entry, sort_keys=True) + "\n")
                log.flush()
            if exc_info is None:
                return start_response(status, response_headers)
            return start_response(status, response_headers, exc_info)

        return app(environ, start)

    run_simple(host, int(port), recording, threaded=True, request_handler=MotoRequestHandler)


def buckets_of(policy):
    names = set()
    statements = policy["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            if resource.startswith("arn:aws:s3:::"):
                name = resource[len("arn:aws:s3:::"):].split("/", 1)[0]
                if name and "*" not in name and "?" not in name:
                    names.add(name)
    return sorted(names)


def setup(url, policy_path):
    import boto3
    import botocore.exceptions

    with open(policy_path, encoding="utf-8") as f:
        document = f.read()
    policy = json.loads(document)

    def client(service, key="testing", secret="testing"):
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    s3, iam = client("s3"), client("iam")
    buckets = buckets_of(policy)
    if not buckets:
        raise SystemExit(f"{policy_path}: no bucket named in any Resource")
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    keys = {}
    for user, doc in (
        (ADMIN_USER, json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]})),
        (POLICY_USER, document),
    ):
        iam.create_user(UserName=user)
        # moto validates the document as IAM does (syntax, Version, Effect, ARNs).
        iam.put_user_policy(UserName=user, PolicyName=POLICY_NAME if user == POLICY_USER else "admin",
                            PolicyDocument=doc)
        created = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (created["AccessKeyId"], created["SecretAccessKey"])

    # text/plain: with a form content type Flask consumes the body and moto reads "".
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        json.loads(response.read())

    # Enforcement is on: an unknown key is refused, the admin key accepted.
    try:
        client("s3", "AKIANOTAUSERATALL000", "nothing").list_objects_v2(Bucket=buckets[0])
        raise SystemExit("IAM enforcement is off: an unknown access key was accepted")
    except botocore.exceptions.ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 403:
            raise SystemExit(f"unknown access key: expected 403, got {status}: {error}")
    admin = client("s3", *keys[ADMIN_USER])
    admin.list_objects_v2(Bucket=buckets[0])

    print(f"ALMANAC_TEST_S3_ADMIN_ACCESS_KEY={keys[ADMIN_USER][0]}")
    print(f"ALMANAC_TEST_S3_ADMIN_SECRET_KEY={keys[ADMIN_USER][1]}")
    print(f"ALMANAC_TEST_S3_POLICY_ACCESS_KEY={keys[POLICY_USER][0]}")
    print(f"ALMANAC_TEST_S3_POLICY_SECRET_KEY={keys[POLICY_USER][1]}")
    print(f"ALMANAC_TEST_S3_POLICY_USER={POLICY_USER}")
    print(f"ALMANAC_TEST_S3_POLICY_BUCKETS={','.join(buckets)}")


def main(argv):
    if len(argv) == 4 and argv[0] == "serve":
        serve(argv[1], argv[2], argv[3])
    elif len(argv) == 3 and argv[0] == "setup":
        setup(argv[1], argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
