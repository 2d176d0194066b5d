#!/usr/bin/env python3
"""Checks what cfn-lint cannot: that template.yaml's policies let its alarms reach people and give
no role more than it needs, and that every edge has its limits and logs.

  python3 infra/check_template_policies.py [--param NAME=VALUE ...] [TEMPLATE]

The template is loaded as it is written (CloudFormation short-form tags understood, no SAM
transform) and its intrinsics are evaluated for a made-up deployment: stack STACK in REGION of
ACCOUNT, parameters at their defaults unless --param overrides them. Policy statements are then
evaluated the way IAM does for the request each service makes: principal, action, resource and
every condition (StringEquals/Like, ArnEquals/Like and their Not and IfExists forms, Bool,
ForAnyValue/ForAllValues; an operator it does not know fails the statement), explicit Deny
winning. Asserted:

  1. every AWS::CloudWatch::Alarm's alarm/OK/insufficient-data action topic lets
     cloudwatch.amazonaws.com sns:Publish with aws:SourceArn = that alarm's ARN (its AlarmName,
     or the name CloudFormation would generate) and, for an encrypted topic, the topic's key
     lets CloudWatch kms:Decrypt and kms:GenerateDataKey for that alarm and topic;
  2. likewise every AWS::Events::Rule target that is a topic, for events.amazonaws.com with
     aws:SourceArn = the rule's ARN; the KMS request of EventBridge carries only the
     encryption context (AWS documents aws:SourceArn/SourceAccount as unsupported there);
  3. no role (AWS::IAM::Role, a SAM function's Policies) allows an action with a wildcard,
     Resource "*", NotAction/NotResource, a managed policy other than
     AWSLambdaBasicExecutionRole, a SAM policy template, or dynamodb:Scan outside SCAN_ALLOWED;
     kms:Decrypt only through SSM (kms:ViaService) for named parameters
     (kms:EncryptionContext:PARAMETER_ARN);
  4. every function has a log group with RetentionInDays (LoggingConfig.LogGroup, or
     /aws/lambda/<FunctionName>);
  5. every HTTP API has route throttling sized below MAX_RATE/MAX_BURST and JSON access logs
     (to a log group with retention) holding REQUIRED_ACCESS_LOG_KEYS and none of the
     FORBIDDEN_ACCESS_LOG_VARIABLES; no function uses SAM's implicit HTTP API;
  6. every function has ReservedConcurrentExecutions; an SQS-fed function at least its event
     source's MaximumConcurrency; a scheduled function exactly 1 (one run at a time);
  7. every S3 bucket is encrypted, blocks public access, expires its objects and has a policy
     denying requests without TLS.

Prints one line per finding and exits 1 if any check fails. Run by infra/check-template.sh.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from pathlib import Path
from typing import Any

# The one template loader (short-form tags to long form) is the local stack's; it needs the
# venv's PyYAML and boto3, and exits with that advice when they are missing.
sys.path.insert(0, str(Path(__file__).resolve().parent / "local"))
from provision import ProvisionError, load_template  # noqa: E402

STACK = "stockbridge-check"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
PARTITION = "aws"

# (role logical id, statement Sid): the only statements that may allow dynamodb:Scan.
# shop/redact (DynamoStore::redact_shop) scans each table for the shop's records; empty this
# set once it no longer scans.
SCAN_ALLOWED = {("StockConsumerRole", "RedactShop")}
MANAGED_POLICIES_ALLOWED = {"AWSLambdaBasicExecutionRole"}
MAX_RATE = 1000  # requests/s; the account default (10,000) is what "not sized" looks like
MAX_BURST = 2000
REQUIRED_ACCESS_LOG_KEYS = {"requestId", "ip", "routeKey", "status", "responseLength",
                            "integrationLatency", "time"}
# Access log variables that carry request content or caller identity beyond the source IP.
FORBIDDEN_ACCESS_LOG_VARIABLES = ("body", "header", "useragent", "authorizer", "identity.user",
                                  "identity.caller", "querystring", "cognito", "clientcert")

NO_VALUE = object()


# --------------------------------------------------------------------------- loading


def load(path: Path) -> dict[str, Any]:
    """The template with its short-form tags in long form, read as the local stack reads it."""
    try:
        return load_template(path)
    except ProvisionError as exc:
        sys.exit(str(exc))


# --------------------------------------------------------------------------- intrinsics

NAME_PROPERTY = {
    "AWS::SNS::Topic": "TopicName", "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Events::Rule": "Name", "AWS::Events::EventBus": "Name", "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName", "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName", "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName",
}


class Template:
    """The template with its intrinsics evaluated for one made-up deployment."""

    def __init__(self, doc: dict[str, Any], overrides: dict[str, str]) -> None:
        self.doc = doc
        self.resources: dict[str, dict[str, Any]] = doc["Resources"]
        self.mappings = doc.get("Mappings") or {}
        self.conditions = doc.get("Conditions") or {}
        self._cond_cache: dict[str, bool] = {}
        decls = doc.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(decls))
        if unknown:
            sys.exit(f"--param for unknown parameter(s): {', '.join(unknown)}")
        self.params: dict[str, Any] = {}
        for name, decl in decls.items():
            raw = overrides.get(name, (decl or {}).get("Default"))
            if raw is None:
                self.params[name] = None
                continue
            if isinstance(raw, bool):
                raw = str(raw).lower()
            ptype = str((decl or {}).get("Type", "String"))
            if ptype.startswith("List<") or ptype == "CommaDelimitedList":
                self.params[name] = [v.strip() for v in str(raw).split(",")] if str(raw) else []
            else:
                self.params[name] = str(raw)

    # -- resources
    def included(self, lid: str) -> bool:
        cond = self.resources[lid].get("Condition")
        return cond is None or self.condition(cond)

    def of_type(self, *types: str) -> list[str]:
        return [lid for lid, r in self.resources.items()
                if r.get("Type") in types and self.included(lid)]

    def props(self, lid: str) -> dict[str, Any]:
        return self.resources[lid].get("Properties") or {}

    def name(self, lid: str) -> str:
        rtype = self.resources[lid].get("Type")
        prop = NAME_PROPERTY.get(rtype)
        if prop and self.props(lid).get(prop) is not None:
            return str(self.resolve(self.props(lid)[prop]))
        generated = f"{STACK}-{lid}-GENERATED"
        return generated.lower() if rtype == "AWS::S3::Bucket" else generated

    def attribute(self, lid: str, attr: str) -> Any:
        if lid not in self.resources:
            raise KeyError(f"no resource {lid}")
        rtype = self.resources[lid].get("Type")
        name = self.name(lid)
        arn = f"arn:{PARTITION}"
        table: dict[str, dict[str, Any]] = {
            "AWS::SNS::Topic": {"Ref": f"{arn}:sns:{REGION}:{ACCOUNT}:{name}",
                                "TopicArn": f"{arn}:sns:{REGION}:{ACCOUNT}:{name}",
                                "TopicName": name},
            "AWS::CloudWatch::Alarm": {"Ref": name,
                                       "Arn": f"{arn}:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"},
            "AWS::Events::EventBus": {"Ref": name, "Name": name,
                                      "Arn": f"{arn}:events:{REGION}:{ACCOUNT}:event-bus/{name}"},
            "AWS::SQS::Queue": {"Ref": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
                                "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
                                "Arn": f"{arn}:sqs:{REGION}:{ACCOUNT}:{name}", "QueueName": name},
            "AWS::DynamoDB::Table": {"Ref": name,
                                     "Arn": f"{arn}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"},
            "AWS::Logs::LogGroup": {"Ref": name,
                                    "Arn": f"{arn}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"},
            "AWS::S3::Bucket": {"Ref": name, "Arn": f"{arn}:s3:::{name}",
                                "DomainName": f"{name}.s3.amazonaws.com"},
            "AWS::KMS::Key": {"Ref": f"key-{lid}", "KeyId": f"key-{lid}",
                              "Arn": f"{arn}:kms:{REGION}:{ACCOUNT}:key/key-{lid}"},
            "AWS::Serverless::Function": {"Ref": name,
                                          "Arn": f"{arn}:lambda:{REGION}:{ACCOUNT}:function:{name}"},
            "AWS::Lambda::Function": {"Ref": name,
                                      "Arn": f"{arn}:lambda:{REGION}:{ACCOUNT}:function:{name}"},
            "AWS::IAM::Role": {"Ref": name, "Arn": f"{arn}:iam::{ACCOUNT}:role/{name}"},
        }
        if rtype == "AWS::Events::Rule":
            bus = self.props(lid).get("EventBusName")
            bus = str(self.resolve(bus)) if bus is not None else "default"
            bus = bus.rsplit("event-bus/", 1)[-1]
            path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
            attrs = {"Ref": name if bus == "default" else f"{bus}|{name}",
                     "Arn": f"{arn}:events:{REGION}:{ACCOUNT}:{path}"}
        else:
            attrs = table.get(rtype, {"Ref": f"{lid}-ref"})
        return attrs.get(attr, f"{lid}.{attr}")

    # -- conditions and intrinsics
    def condition(self, name: str) -> bool:
        if name not in self._cond_cache:
            if name not in self.conditions:
                sys.exit(f"unknown condition {name}")
            self._cond_cache[name] = bool(self.resolve(self.conditions[name]))
        return self._cond_cache[name]

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION,
                  "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com",
                  "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/id",
                  "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.attribute(name, "Ref")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg[0], arg[1] or {}) if isinstance(arg, list) else (arg, {})
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def one(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            expr = expr.strip()
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                res, _, att = expr.partition(".")
                return str(self.attribute(res, att))
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]*)\}", one, str(text))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                res, att = (arg.split(".", 1) if isinstance(arg, str) else arg)
                return self.attribute(res, self.resolve(att))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(c) for c in arg)
            if key == "Fn::Or":
                return any(self.resolve(c) for c in arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(str(arg[0]))
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(a) for a in arg[:3])
                return self.mappings[m][k1][k2]
            if key == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}b"]
            if key in ("Fn::ImportValue", "Fn::Base64"):
                return f"{key}({self.resolve(arg)})"
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out


# --------------------------------------------------------------------------- policy evaluation


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, str(value), re.IGNORECASE if ignore_case else 0) is not None


def _matches(base: str, actual: str, expected: str) -> bool | None:
    if base in ("StringEquals", "StringNotEquals"):
        return actual == str(expected)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() == str(expected).lower()
    if base in ("StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals",
                "ArnNotLike"):
        return glob(str(expected), actual)
    if base == "Bool":
        return actual.lower() == str(expected).lower()
    return None


def condition_holds(operator: str, key: str, expected: list[Any], ctx: dict[str, Any]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    base = op[: -len("IfExists")] if if_exists else op
    actual = ctx.get(key.lower())
    if base == "Null":
        return (actual is None) == (str(expected[0]).lower() == "true")
    if actual is None:
        return if_exists
    negated = "Not" in base
    values = [str(v) for v in as_list(actual)]
    results = []
    for v in values:
        hits = [_matches(base, v, e) for e in expected]
        if any(h is None for h in hits):
            return False  # an operator this check does not know: assume it does not hold
        results.append(not any(hits) if negated else any(hits))
    if qualifier == "ForAllValues":
        return all(results)
    return any(results) if not negated else all(results)


def conditions_hold(block: dict[str, Any] | None, ctx: dict[str, Any]) -> bool:
    for operator, pairs in (block or {}).items():
        for key, expected in (pairs or {}).items():
            if not condition_holds(operator, key, as_list(expected), ctx):
                return False
    return True


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in as_list((doc or {}).get("Statement")) if isinstance(s, dict)]


def principal_is(st: dict[str, Any], service: str) -> bool:
    principal = st.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if "*" in as_list(principal.get("AWS")):
        return True
    return service in as_list(principal.get("Service"))


def statement_applies(st: dict[str, Any], service: str, action: str, resource: str,
                      ctx: dict[str, Any]) -> bool:
    if not principal_is(st, service):
        return False
    if not any(glob(a, action, ignore_case=True) for a in as_list(st.get("Action"))):
        return False
    if not any(glob(r, resource) for r in as_list(st.get("Resource"))):
        return False
    return conditions_hold(st.get("Condition"), ctx)


def allowed(docs: list[dict[str, Any]], service: str, action: str, resource: str,
            ctx: dict[str, Any]) -> bool:
    ctx = {k.lower(): v for k, v in ctx.items()}
    sts = [s for d in docs for s in statements(d)]
    allow = any(s.get("Effect") == "Allow" and statement_applies(s, service, action, resource, ctx)
                for s in sts)
    deny = any(s.get("Effect") == "Deny" and statement_applies(s, service, action, resource, ctx)
               for s in sts)
    return allow and not deny


# --------------------------------------------------------------------------- checks


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passes: list[str] = []

    def check(self, ok: bool, good: str, bad: str) -> bool:
        (self.passes if ok else self.failures).append(good if ok else bad)
        return ok


def topic_index(t: Template, r: Report) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """Topic ARN -> logical id, and topic ARN -> the policy documents attached to it."""
    topics = {t.attribute(lid, "Ref"): lid for lid in t.of_type("AWS::SNS::Topic")}
    policies: dict[str, list[dict[str, Any]]] = {}
    for lid in t.of_type("AWS::SNS::TopicPolicy"):
        props = t.resolve(t.props(lid))
        for topic in as_list(props.get("Topics")):
            policies.setdefault(topic, []).append(props.get("PolicyDocument") or {})
    for arn, docs in policies.items():
        r.check(len(docs) == 1, "", f"topic {topics.get(arn, arn)} has {len(docs)} TopicPolicy "
                "resources; SNS keeps only one of them")
    return topics, policies


def key_docs(t: Template, topic_lid: str) -> tuple[str | None, list[dict[str, Any]] | None, str]:
    """The topic's key ARN and key policy (None, None when the topic is not encrypted)."""
    raw = t.props(topic_lid).get("KmsMasterKeyId")
    if raw is None:
        return None, None, "not encrypted"
    value = str(t.resolve(raw))
    for lid in t.of_type("AWS::KMS::Key"):
        if value in (t.attribute(lid, "Ref"), t.attribute(lid, "Arn")):
            return t.attribute(lid, "Arn"), [t.resolve(t.props(lid).get("KeyPolicy") or {})], lid
    return value, None, value


def check_publishers(t: Template, r: Report) -> None:
    topics, policies = topic_index(t, r)
    kms_actions = ("kms:Decrypt", "kms:GenerateDataKey")

    def publish_ok(who: str, service: str, topic_arn: str, source_arn: str,
                   kms_ctx: dict[str, str]) -> None:
        topic_lid = topics.get(topic_arn)
        if not r.check(topic_lid is not None, "", f"{who} publishes to {topic_arn}, a topic "
                       "outside the template: its policy cannot be checked"):
            return
        docs = policies.get(topic_arn)
        ctx = {"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT,
               "aws:SourceOwner": ACCOUNT}
        if docs is None:
            r.check(True, f"{who} -> {topic_lid}: SNS's default topic policy (same account)", "")
        else:
            r.check(allowed(docs, service, "sns:Publish", topic_arn, ctx),
                    f"{who} -> {topic_lid}: the topic policy lets {service} publish for "
                    f"{source_arn}",
                    f"{who} -> {topic_lid}: the topic policy does not let {service} sns:Publish "
                    f"with aws:SourceArn {source_arn}: its notifications are refused")
        key_arn, kdocs, key_name = key_docs(t, topic_lid)
        if key_arn is None:
            return
        if not r.check(kdocs is not None, "",
                       f"{who} -> {topic_lid}: encrypted with {key_name}, not a key of this "
                       f"template; {service} cannot be granted the AWS managed key"):
            return
        kctx = dict(kms_ctx, **{"kms:EncryptionContext:aws:sns:topicArn": topic_arn})
        missing = [a for a in kms_actions if not allowed(kdocs, service, a, key_arn, kctx)]
        r.check(not missing,
                f"{who} -> {topic_lid}: key {key_name} lets {service} {', '.join(kms_actions)}",
                f"{who} -> {topic_lid}: key {key_name} does not let {service} "
                f"{', '.join(missing)} (request context {kctx}): notifications are dropped")

    for lid in t.of_type("AWS::CloudWatch::Alarm"):
        props = t.resolve(t.props(lid))
        alarm_arn = t.attribute(lid, "Arn")
        actions = [a for k in ("AlarmActions", "OKActions", "InsufficientDataActions")
                   for a in as_list(props.get(k))]
        for topic_arn in dict.fromkeys(a for a in actions if str(a).startswith(f"arn:{PARTITION}:sns:")):
            publish_ok(f"alarm {lid}", "cloudwatch.amazonaws.com", topic_arn, alarm_arn,
                       {"aws:SourceArn": alarm_arn, "aws:SourceAccount": ACCOUNT})

    for lid in t.of_type("AWS::Events::Rule"):
        rule_arn = t.attribute(lid, "Arn")
        for target in as_list(t.resolve(t.props(lid)).get("Targets")):
            arn = str(target.get("Arn", ""))
            if arn.startswith(f"arn:{PARTITION}:sns:"):
                r.check("RoleArn" not in target, "", f"rule {lid}: an SNS target with RoleArn "
                        "(EventBridge advises resource policies only for SNS)")
                # EventBridge's KMS request carries the encryption context, not the source.
                publish_ok(f"rule {lid}", "events.amazonaws.com", arn, rule_arn, {})


def role_policies(t: Template, r: Report):
    """(role id, policy name, document) for every inline policy a role gets; managed ARNs apart."""
    out = []
    globals_fn = ((t.doc.get("Globals") or {}).get("Function") or {})
    for lid in t.of_type("AWS::IAM::Role"):
        props = t.resolve(t.props(lid))
        for pol in as_list(props.get("Policies")):
            out.append((lid, pol.get("PolicyName", "?"), pol.get("PolicyDocument") or {}))
        for arn in as_list(props.get("ManagedPolicyArns")):
            name = str(arn).rsplit("/", 1)[-1]
            r.check(name in MANAGED_POLICIES_ALLOWED, "",
                    f"{lid}: managed policy {arn} (its statements are not reviewed here)")
    for lid in t.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        props = t.resolve(t.props(lid))
        out.append((lid, props.get("PolicyName", lid), props.get("PolicyDocument") or {}))
    for lid in t.of_type("AWS::Serverless::Function"):
        props = t.props(lid)
        if props.get("Role") is not None:
            continue
        role = f"{lid}Role"
        for i, pol in enumerate(as_list(t.resolve(props.get("Policies", globals_fn.get("Policies"))))):
            if isinstance(pol, str):
                name = pol.rsplit("/", 1)[-1]
                r.check(name in MANAGED_POLICIES_ALLOWED, "",
                        f"{role}: managed policy {pol} (its statements are not reviewed here)")
            elif isinstance(pol, dict) and "Statement" in pol:
                out.append((role, f"{lid}RolePolicy{i}", pol))
            else:
                r.check(False, "", f"{role}: SAM policy template {list(pol)} (write the "
                        "statements out so they can be reviewed)")
        for ev in (props.get("Events") or {}).values():
            r.check(ev.get("Type") not in ("SQS", "Kinesis", "DynamoDB", "MSK"), "",
                    f"{role}: SAM attaches a poller managed policy on every queue/stream "
                    f"for its {ev.get('Type')} event; give {lid} an explicit Role")
    return out


def check_roles(t: Template, r: Report) -> None:
    count = 0
    for role, pname, doc in role_policies(t, r):
        for st in statements(doc):
            if st.get("Effect") != "Allow":
                continue
            count += 1
            sid = st.get("Sid", "<no Sid>")
            where = f"{role}/{pname}/{sid}"
            actions = [str(a) for a in as_list(st.get("Action"))]
            resources = [str(x) for x in as_list(st.get("Resource"))]
            r.check("NotAction" not in st and "NotResource" not in st, "",
                    f"{where}: NotAction/NotResource allow more than they name")
            wild = [a for a in actions if "*" in a or "?" in a]
            r.check(not wild, "", f"{where}: wildcard action(s) {wild}")
            r.check("*" not in resources, "", f"{where}: Resource \"*\" for {actions}")
            if any(glob(a, "dynamodb:Scan", ignore_case=True) for a in actions):
                r.check((role, sid) in SCAN_ALLOWED, f"{where}: dynamodb:Scan (allowed: shop/redact)",
                        f"{where}: dynamodb:Scan (only {sorted(SCAN_ALLOWED)} may scan)")
            if any(glob(a, "kms:Decrypt", ignore_case=True) for a in actions):
                keys = {k.lower() for pairs in (st.get("Condition") or {}).values()
                        for k in (pairs or {})}
                r.check("kms:viaservice" in keys and "kms:encryptioncontext:parameter_arn" in keys,
                        f"{where}: kms:Decrypt only via SSM for named parameters",
                        f"{where}: kms:Decrypt without kms:ViaService and "
                        "kms:EncryptionContext:PARAMETER_ARN conditions")
    r.check(count > 0, f"{count} Allow statements reviewed", "no role statement found")


def functions(t: Template) -> list[str]:
    return t.of_type("AWS::Serverless::Function", "AWS::Lambda::Function")


def check_log_groups(t: Template, r: Report) -> None:
    groups = {str(t.attribute(lid, "Ref")): lid for lid in t.of_type("AWS::Logs::LogGroup")}
    globals_fn = ((t.doc.get("Globals") or {}).get("Function") or {})
    for lid in functions(t):
        props = t.props(lid)
        logging = dict(globals_fn.get("LoggingConfig") or {}) \
            if t.resources[lid]["Type"] == "AWS::Serverless::Function" else {}
        logging.update(props.get("LoggingConfig") or {})
        if logging.get("LogGroup") is not None:
            name = str(t.resolve(logging["LogGroup"]))
        elif props.get("FunctionName") is not None:
            name = f"/aws/lambda/{t.name(lid)}"
        else:
            r.check(False, "", f"function {lid}: generated name and no LoggingConfig.LogGroup; "
                    "its log group is created by Lambda, without retention")
            continue
        group = groups.get(name)
        if not r.check(group is not None, "", f"function {lid}: no AWS::Logs::LogGroup named "
                       f"{name} (Lambda creates one that keeps logs forever)"):
            continue
        days = t.resolve(t.props(group).get("RetentionInDays"))
        r.check(days is not None, f"function {lid}: log group {group} ({name}) keeps {days} days",
                f"function {lid}: log group {group} has no RetentionInDays")


def check_http_apis(t: Template, r: Report) -> None:
    groups = {str(t.attribute(lid, "Arn")): lid for lid in t.of_type("AWS::Logs::LogGroup")}
    apis = t.of_type("AWS::Serverless::HttpApi")
    for lid in functions(t):
        for name, ev in (t.props(lid).get("Events") or {}).items():
            if ev.get("Type") == "HttpApi":
                r.check((ev.get("Properties") or {}).get("ApiId") is not None, "",
                        f"function {lid} event {name}: SAM's implicit HTTP API has no "
                        "throttling or access logs; set ApiId")
    r.check(bool(apis) or not t.of_type("AWS::ApiGatewayV2::Api"), "",
            "AWS::ApiGatewayV2::Api without SAM: not checked")
    for lid in apis:
        props = t.resolve(t.props(lid))
        route = props.get("DefaultRouteSettings") or {}
        rate, burst = route.get("ThrottlingRateLimit"), route.get("ThrottlingBurstLimit")
        if r.check(rate is not None and burst is not None, "",
                   f"{lid}: DefaultRouteSettings has no ThrottlingRateLimit/ThrottlingBurstLimit "
                   "(the account's 10,000 rps apply)"):
            r.check(float(rate) <= MAX_RATE and float(burst) <= MAX_BURST,
                    f"{lid}: throttled to {rate} rps, burst {burst}",
                    f"{lid}: throttling {rate} rps / burst {burst} is not sized (at most "
                    f"{MAX_RATE} / {MAX_BURST}; see the comment on HttpApi)")
        logs = props.get("AccessLogSettings") or {}
        if not r.check(bool(logs.get("DestinationArn")) and bool(logs.get("Format")), "",
                       f"{lid}: no AccessLogSettings (DestinationArn and Format)"):
            continue
        group = groups.get(str(logs["DestinationArn"]))
        if r.check(group is not None, "", f"{lid}: access logs go to {logs['DestinationArn']}, "
                   "not a log group of this template"):
            r.check(t.resolve(t.props(group).get("RetentionInDays")) is not None,
                    f"{lid}: access log group {group} has a retention",
                    f"{lid}: access log group {group} has no RetentionInDays")
        fmt = str(logs["Format"])
        try:
            keys = set(json.loads(fmt))
        except ValueError:
            r.check(False, "", f"{lid}: access log Format is not one JSON object: {fmt}")
            continue
        missing = REQUIRED_ACCESS_LOG_KEYS - keys
        r.check(not missing, f"{lid}: JSON access logs with {sorted(keys)}",
                f"{lid}: access log Format lacks {sorted(missing)}")
        variables = [v.lower() for v in re.findall(r"\$context\.([A-Za-z0-9_.]+)", fmt)]
        bad = [v for v in variables if any(f in v for f in FORBIDDEN_ACCESS_LOG_VARIABLES)]
        r.check(not bad, "", f"{lid}: access log Format logs request content or identity: {bad}")


def check_concurrency(t: Template, r: Report) -> None:
    for lid in functions(t):
        props = t.props(lid)
        reserved = t.resolve(props.get("ReservedConcurrentExecutions"))
        if not r.check(reserved is not None, "", f"function {lid}: no ReservedConcurrentExecutions "
                       "(uncapped and unguaranteed)"):
            continue
        reserved = int(float(reserved))
        events = (props.get("Events") or {}).values()
        kinds = {e.get("Type") for e in events}
        for ev in events:
            if ev.get("Type") == "SQS":
                scaling = t.resolve(((ev.get("Properties") or {}).get("ScalingConfig") or {})
                                    .get("MaximumConcurrency"))
                r.check(scaling is not None and reserved >= int(float(scaling)),
                        f"function {lid}: reserved {reserved} >= event source MaximumConcurrency "
                        f"{scaling}",
                        f"function {lid}: reserved {reserved} below the event source's "
                        f"MaximumConcurrency {scaling} (or none): throttled batches return to "
                        "the queue and count toward the DLQ")
        if "Schedule" in kinds or "ScheduleV2" in kinds:
            r.check(reserved == 1, f"function {lid}: scheduled, one run at a time (reserved 1)",
                    f"function {lid}: scheduled with reserved concurrency {reserved}; runs overlap")
        elif "SQS" not in kinds:
            r.check(True, f"function {lid}: reserved concurrency {reserved}", "")


def check_buckets(t: Template, r: Report) -> None:
    policies: dict[str, list[dict[str, Any]]] = {}
    for lid in t.of_type("AWS::S3::BucketPolicy"):
        props = t.resolve(t.props(lid))
        policies.setdefault(str(props.get("Bucket")), []).append(props.get("PolicyDocument") or {})
    for lid in t.of_type("AWS::S3::Bucket"):
        props = t.resolve(t.props(lid))
        name, arn = t.attribute(lid, "Ref"), t.attribute(lid, "Arn")
        rules = ((props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")) or []
        r.check(bool(rules), f"bucket {lid}: encrypted", f"bucket {lid}: no BucketEncryption")
        block = props.get("PublicAccessBlockConfiguration") or {}
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        r.check(all(str(block.get(f)).lower() == "true" for f in flags),
                f"bucket {lid}: public access blocked",
                f"bucket {lid}: PublicAccessBlockConfiguration does not set all of {flags}")
        expiring = [x for x in ((props.get("LifecycleConfiguration") or {}).get("Rules") or [])
                    if x.get("Status") == "Enabled" and x.get("ExpirationInDays") is not None]
        r.check(bool(expiring), f"bucket {lid}: objects expire after "
                f"{expiring[0]['ExpirationInDays'] if expiring else '?'} days",
                f"bucket {lid}: no enabled lifecycle rule with ExpirationInDays")
        docs = policies.get(name, [])
        plain = {"aws:SecureTransport": "false"}
        r.check(bool(docs) and not allowed(docs + [{"Statement": [{"Effect": "Allow", "Principal": "*",
                "Action": "s3:*", "Resource": "*"}]}], "s3.amazonaws.com", "s3:GetObject",
                f"{arn}/x", plain),
                f"bucket {lid}: requests without TLS are denied",
                f"bucket {lid}: no bucket policy denying aws:SecureTransport false")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("template", nargs="?", type=Path,
                   default=Path(__file__).resolve().parents[1] / "template.yaml")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--quiet", action="store_true", help="print failures only")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.param:
        k, sep, v = item.partition("=")
        if not sep:
            sys.exit(f"--param expects NAME=VALUE, got {item!r}")
        overrides[k] = v
    t = Template(load(args.template), overrides)
    r = Report()
    for check in (check_publishers, check_roles, check_log_groups, check_http_apis,
                  check_concurrency, check_buckets):
        check(t, r)
    if not args.quiet:
        for line in r.passes:
            if line:
                print(f"  ok   {line}")
    for line in r.failures:
        print(f"  FAIL {line}")
    shown = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"
    print(f"policies ({args.template.name}, {shown}): {len([x for x in r.passes if x])} ok, "
          f"{len(r.failures)} failed")
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
