#!/usr/bin/env bash
# Offline checks of template.yaml: cfn-lint, then the SAM transform (aws-sam-translator) with a
# stubbed managed-policy loader so nothing calls AWS, plus a few least-privilege assertions on
# the transformed template, then infra/check_template_policies.py (the alarms' and the variance
# rule's way to the topic through its policy and key policy, least privilege of every role, log
# retention, HTTP API throttling and access logs, reserved concurrency, the quarantine bucket),
# with the defaults and with a customer managed SSM key, and once against the template of
# e180e77 (before these were fixed), which it must reject.
#
#   PY=infra/local/.venv/bin/python bash infra/check-template.sh
#
# PY (default python3) must have cfn-lint and aws-sam-translator installed; cfn-lint is taken
# from the same bin directory as PY. Exits non-zero on any cfn-lint error or warning, or if the
# transform or an assertion fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TEMPLATE=template.yaml
PY="${PY:-python3}"

if ! PY_PATH="$(command -v "$PY")"; then
  echo "check-template: python '$PY' not found (set PY=<venv>/bin/python)" >&2
  exit 1
fi
# Not realpath: a venv's python is a symlink to the system one, its bin dir is what we want.
CFN_LINT="$(dirname "$PY_PATH")/cfn-lint"
if [[ ! -x "$CFN_LINT" ]]; then
  echo "check-template: $CFN_LINT not found; install cfn-lint into the venv of $PY_PATH" >&2
  exit 1
fi

# Offline: no credentials, no profile, a fixed region for the translator's ARN partition lookup.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN

echo "== cfn-lint $("$CFN_LINT" --version 2>&1 | awk '{print $NF}')"
# Non-zero for warnings and errors (informational findings are printed but do not fail).
"$CFN_LINT" --non-zero-exit-code warning -- "$TEMPLATE"
echo "cfn-lint: clean"

echo "== aws-sam-translator transform"
"$PY_PATH" - "$TEMPLATE" <<'PYEOF'
import copy
import json
import sys

from cfnlint.decode import decode  # understands !Ref/!GetAtt/!Sub ... short forms
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
import samtranslator


class OfflinePolicyLoader(ManagedPolicyLoader):
    """Never lists IAM policies: the template names managed policies by full ARN."""

    def __init__(self):  # no IAM client
        self._policy_map = {}

    def load(self):
        return self._policy_map


path = sys.argv[1]
template, matches = decode(path)
if matches or template is None:
    for m in matches or []:
        print(m, file=sys.stderr)
    sys.exit("could not parse %s" % path)

# Plain dicts/lists/strs (cfn-lint returns node subclasses).
template = json.loads(json.dumps(template))

# A local CodeUri (".") is what `sam build`/`sam package` replace with an S3 object; the
# translator only accepts the latter, so stand in a placeholder like `sam package` would.
for lid, res in template.get("Resources", {}).items():
    props = res.get("Properties") or {}
    if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str) \
            and not props["CodeUri"].startswith("s3://"):
        props["CodeUri"] = "s3://offline-check/%s.zip" % lid

try:
    cfn = transform(copy.deepcopy(template), {}, OfflinePolicyLoader())
except InvalidDocumentException as exc:
    for cause in exc.causes:
        print("transform error: %s" % cause.message, file=sys.stderr)
    sys.exit("SAM transform failed")

resources = cfn.get("Resources", {})
problems = []

by_type = {}
for lid, res in resources.items():
    by_type.setdefault(res["Type"], []).append(lid)

# 1. No role may carry the SQS poller managed policy (it allows every queue in the account).
for lid in by_type.get("AWS::IAM::Role", []):
    props = resources[lid].get("Properties", {})
    for arn in props.get("ManagedPolicyArns", []):
        if "SQSQueueExecutionRole" in json.dumps(arn):
            problems.append("%s has AWSLambdaSQSQueueExecutionRole (Resource '*')" % lid)

# 2. Identity policies: Resource "*" only with a Condition (e.g. kms:ViaService).
def statements(doc):
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]

for lid in by_type.get("AWS::IAM::Role", []):
    for pol in resources[lid].get("Properties", {}).get("Policies", []):
        for st in statements(pol.get("PolicyDocument", {})):
            res = st.get("Resource")
            wild = res == "*" or (isinstance(res, list) and "*" in res)
            if wild and st.get("Effect") == "Allow" and not st.get("Condition"):
                problems.append("%s/%s: Allow %s on '*' without a Condition"
                                % (lid, pol.get("PolicyName"), st.get("Action")))

# 3. The logical ids other tooling (provision.py, docs, alarms) relies on.
expected = ["HttpApi", "WebhookFunction", "StockConsumerFunction", "StockConsumerRole",
            "EventsQueue", "EventsDeadLetterQueue", "StockTable", "IdempotencyTable",
            "SkuMapTable", "InboxTable", "AlarmTopic", "DeadLetterQueueNotEmptyAlarm",
            "OldestMessageAgeAlarm", "EndToEndLatencyAlarm", "WebhookRejectedAlarm",
            "QuarantineBucket"]
for lid in expected:
    if lid not in resources:
        problems.append("missing resource %s" % lid)

print("samtranslator %s: %d CloudFormation resources" % (samtranslator.__version__, len(resources)))
for t in sorted(by_type):
    print("  %-42s %d" % (t, len(by_type[t])))
if problems:
    for p in problems:
        print("FAIL: " + p, file=sys.stderr)
    sys.exit(1)
print("transform: ok")
PYEOF

echo "== policies (infra/check_template_policies.py)"
"$PY_PATH" infra/check_template_policies.py "$TEMPLATE"
"$PY_PATH" infra/check_template_policies.py --quiet "$TEMPLATE" \
  --param SsmSecureStringKmsKey=arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab \
  --param AlarmEmail=ops@example.com

# The check must not be vacuous: the template before the fixes (alarms refused by the topic
# policy, kms:Decrypt on "*", no retention, no throttling, no reserved concurrency) fails it.
BASELINE=e180e77
if git rev-parse -q --verify "$BASELINE^{commit}" >/dev/null 2>&1; then
  old="$(mktemp)"
  trap 'rm -f "$old"' EXIT
  git show "$BASELINE:template.yaml" > "$old"
  if "$PY_PATH" infra/check_template_policies.py --quiet "$old" > "$old.out" 2>&1; then
    cat "$old.out"; rm -f "$old.out"
    echo "FAIL: check_template_policies.py accepts the template of $BASELINE" >&2
    exit 1
  fi
  echo "policies: the template of $BASELINE is rejected ($(grep -c FAIL "$old.out") findings), as it must be"
  rm -f "$old.out"
else
  echo "policies: $BASELINE not in this clone; skipped the check of the check"
fi
