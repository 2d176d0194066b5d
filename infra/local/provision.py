#!/usr/bin/env python3
"""Provision Stockbridge's DynamoDB tables, SQS queues, EventBridge bus and S3 buckets on a local
AWS stand-in (moto server).

Everything comes from template.yaml itself, there is no second copy of the definitions:

  * every AWS::DynamoDB::Table (KeySchema, AttributeDefinitions, BillingMode, GSIs/LSIs,
    streams, then TTL via UpdateTimeToLive),
  * every AWS::SQS::Queue (attributes; queues a RedrivePolicy points at are created first),
  * every AWS::Events::EventBus (the bus reconciliation alerts go to),
  * every AWS::S3::Bucket (default encryption, public access block, ownership controls,
    lifecycle rules, versioning),
  * the Environment.Variables of every function (Globals merged), resolved against what was
    created, written as a KEY=VALUE env file together with EVENTS_DLQ_URL, AWS_ENDPOINT_URL,
    AWS_REGION and dummy credentials (QUARANTINE_BUCKET, for instance, is the webhook's
    `!Ref QuarantineBucket`).

Physical names are <prefix>-<LogicalId> (buckets: the same in lower case, as S3 requires).
Running it again reuses existing tables, queues and buckets (queue attributes, TTL and bucket
settings are applied again), so it is safe to run before every local session.

Run with the project venv's python (boto3 + PyYAML):

  infra/local/.venv/bin/moto_server -H 127.0.0.1 -p 4599 &
  infra/local/.venv/bin/python infra/local/provision.py --endpoint http://127.0.0.1:4599
  set -a; . infra/local/.state/local.env; set +a
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    import boto3
    import yaml
    from botocore.config import Config
    from botocore.exceptions import ClientError, EndpointConnectionError
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(f"provision.py: {exc}; run it with the venv's python (boto3 and PyYAML)")

REGION = "us-east-1"
DUMMY_KEY = "testing"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DEFAULT_ENV_FILE = REPO_ROOT / "infra" / "local" / ".state" / "local.env"


class ProvisionError(Exception):
    """A problem with the template, the arguments or the local server; reported without a trace."""


# --------------------------------------------------------------------------- YAML with CFN tags


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    except OSError as exc:
        raise ProvisionError(f"cannot read template: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProvisionError(f"cannot parse {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise ProvisionError(f"{path} has no Resources mapping")
    return doc


# --------------------------------------------------------------------------- intrinsic resolution

NO_VALUE = object()  # AWS::NoValue: the enclosing key or list item disappears


class Unresolvable(ProvisionError):
    pass


class Resolver:
    """Evaluates intrinsics against parameter values and the locally created resources."""

    def __init__(self, doc: dict[str, Any], overrides: dict[str, str], prefix: str,
                 account_id_fn) -> None:
        self.doc = doc
        self.prefix = prefix
        self.mappings = doc.get("Mappings") or {}
        self.conditions = doc.get("Conditions") or {}
        self._condition_cache: dict[str, bool] = {}
        self._account_id_fn = account_id_fn
        self._account_id: str | None = None
        # logical id -> {"Ref": ..., "<Attr>": ...} for resources created locally
        self.physical: dict[str, dict[str, Any]] = {}
        self.params = self._parameter_values(doc.get("Parameters") or {}, overrides)

    # -- parameters
    @staticmethod
    def _parameter_values(decls: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
        unknown = sorted(set(overrides) - set(decls))
        if unknown:
            raise ProvisionError(f"--param for unknown template parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, decl in decls.items():
            decl = decl or {}
            if name in overrides:
                raw: Any = overrides[name]
            elif "Default" in decl:
                raw = decl["Default"]
            else:
                values[name] = None  # an error only if something references it
                continue
            ptype = str(decl.get("Type", "String"))
            if isinstance(raw, bool):
                raw = str(raw).lower()
            value = str(raw) if not isinstance(raw, list) else ",".join(map(str, raw))
            if ptype == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise ProvisionError(f"parameter {name}={value!r} is not a Number") from None
                if "MinValue" in decl and number < float(decl["MinValue"]):
                    raise ProvisionError(f"parameter {name}={value} is below MinValue {decl['MinValue']}")
                if "MaxValue" in decl and number > float(decl["MaxValue"]):
                    raise ProvisionError(f"parameter {name}={value} is above MaxValue {decl['MaxValue']}")
            allowed = decl.get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise ProvisionError(f"parameter {name}={value!r} not in AllowedValues {allowed}")
            pattern = decl.get("AllowedPattern")
            if pattern is not None and ptype == "String" and not re.fullmatch(pattern, value):
                raise ProvisionError(f"parameter {name}={value!r} does not match {pattern}")
            if ptype in ("CommaDelimitedList", "List<Number>") or ptype.startswith("List<"):
                values[name] = [v.strip() for v in value.split(",")] if value else []
            else:
                values[name] = value
        return values

    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self._account_id_fn()
        return self._account_id

    # -- references
    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": lambda: REGION,
            "AWS::Partition": lambda: "aws",
            "AWS::URLSuffix": lambda: "amazonaws.com",
            "AWS::AccountId": self.account_id,
            "AWS::StackName": lambda: self.prefix,
            "AWS::StackId": lambda: (f"arn:aws:cloudformation:{REGION}:{self.account_id()}:"
                                     f"stack/{self.prefix}/00000000-0000-0000-0000-000000000000"),
            "AWS::NotificationARNs": lambda: [],
            "AWS::NoValue": lambda: NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]()
        if name in self.params:
            if self.params[name] is None:
                raise Unresolvable(f"parameter {name} has no Default; pass --param {name}=VALUE")
            return self.params[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        if name in self.doc["Resources"]:
            rtype = self.doc["Resources"][name].get("Type")
            raise Unresolvable(f"Ref {name}: {rtype} is not created locally")
        raise Unresolvable(f"Ref {name}: no such parameter or resource")

    def get_att(self, resource: str, attribute: str) -> Any:
        if resource not in self.physical:
            rtype = (self.doc["Resources"].get(resource) or {}).get("Type", "unknown resource")
            raise Unresolvable(f"GetAtt {resource}.{attribute}: {rtype} is not created locally")
        attrs = self.physical[resource]
        if attribute not in attrs or attribute == "Ref":
            known = ", ".join(k for k in attrs if k != "Ref")
            raise Unresolvable(f"GetAtt {resource}.{attribute}: unsupported locally (have {known})")
        return attrs[attribute]

    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise ProvisionError(f"unknown condition {name}")
            self._condition_cache[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_cache[name]

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            template, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            template, variables = arg, {}

        def replace(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            expr = expr.strip()
            if expr in variables:
                value = variables[expr]
            elif "." in expr and not expr.startswith("AWS::"):
                resource, _, attribute = expr.partition(".")
                value = self.get_att(resource, attribute)
            else:
                value = self.ref(expr)
            return _scalar_str(value, f"${{{expr}}}")

        return re.sub(r"\$\{([^}]*)\}", replace, str(template))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                if isinstance(arg, str):
                    resource, _, attribute = arg.partition(".")
                else:
                    resource, attribute = arg[0], self.resolve(arg[1])
                return self.get_att(resource, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                delim, items = arg[0], self.resolve(arg[1])
                return str(delim).join(_scalar_str(i, "Fn::Join item") for i in items)
            if key == "Fn::Select":
                index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
                return items[index]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(str(arg[0]))
            if key == "Fn::FindInMap":
                name, k1, k2 = (self.resolve(a) for a in arg[:3])
                try:
                    return self.mappings[name][k1][k2]
                except (KeyError, TypeError):
                    raise Unresolvable(f"FindInMap {name}/{k1}/{k2}: no such entry") from None
            if key == "Fn::If":
                cond, when_true, when_false = arg
                return self.resolve(when_true if self.condition(cond) else when_false)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return _scalar_str(a, "Fn::Equals") == _scalar_str(b, "Fn::Equals")
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(c) for c in arg)
            if key == "Fn::Or":
                return any(self.resolve(c) for c in arg)
            if key.startswith("Fn::"):
                raise Unresolvable(f"{key} is not supported locally")
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out


def _scalar_str(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Unresolvable(f"{what}: expected a scalar, got {type(value).__name__}")


def references(value: Any) -> set[str]:
    """Logical ids (or parameter names) a property value points at via Ref/GetAtt/Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v.partition(".")[0] if isinstance(v, str) else v[0])
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) else v
                for expr in re.findall(r"\$\{([^}!][^}]*)\}", str(text)):
                    found.add(expr.strip().partition(".")[0])
                if isinstance(v, list) and len(v) > 1:
                    found |= references(v[1])
            else:
                found |= references(v)
    return found


# --------------------------------------------------------------------------- SQS

# CloudFormation property -> SQS attribute of the same name.
QUEUE_ATTRIBUTES = {
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
    "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize",
    "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy",
    "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
}
QUEUE_CREATE_ONLY = {"FifoQueue"}
QUEUE_IGNORED = {"QueueName", "Tags"}  # names are <prefix>-<LogicalId>; tags handled apart


def _queue_attribute_value(name: str, value: Any) -> str:
    if name in ("RedrivePolicy", "RedriveAllowPolicy"):
        if isinstance(value, str):
            value = json.loads(value)
        if "maxReceiveCount" in value:  # a Ref to a Number parameter is a string in CFN
            value = dict(value, maxReceiveCount=int(value["maxReceiveCount"]))
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def provision_queue(sqs, resolver: Resolver, lid: str, resource: dict[str, Any],
                    prefix: str) -> tuple[str, str]:
    props = resolver.resolve(resource.get("Properties") or {})
    unknown = sorted(set(props) - QUEUE_ATTRIBUTES - QUEUE_IGNORED)
    if unknown:
        print(f"  warning: {lid}: ignoring unsupported properties {', '.join(unknown)}")
    attributes = {k: _queue_attribute_value(k, v) for k, v in props.items() if k in QUEUE_ATTRIBUTES}
    fifo = attributes.get("FifoQueue") == "true"
    name = f"{prefix}-{lid}" + (".fifo" if fifo else "")
    tags = {t["Key"]: str(t["Value"]) for t in props.get("Tags") or []}

    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = None

    if url is None:
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if tags:
            kwargs["tags"] = tags
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        status = "created"
    else:
        settable = {k: v for k, v in attributes.items() if k not in QUEUE_CREATE_ONLY}
        if settable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=settable)
        if tags:
            sqs.tag_queue(QueueUrl=url, Tags=tags)
        status = "reused"

    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    resolver.physical[lid] = {"Ref": url, "Arn": arn, "QueueUrl": url, "QueueName": name}
    return name, status


def provision_bus(events, resolver: Resolver, lid: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}-{lid}"
    try:
        arn = events.describe_event_bus(Name=name)["Arn"]
        status = "reused"
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        status = "created"
    resolver.physical[lid] = {"Ref": name, "Arn": arn, "Name": name}
    return name, status


# --------------------------------------------------------------------------- S3

BUCKET_HANDLED = {
    "BucketEncryption", "PublicAccessBlockConfiguration", "OwnershipControls",
    "LifecycleConfiguration", "VersioningConfiguration", "Tags",
}
BUCKET_IGNORED = {"BucketName"}  # names are <prefix>-<logicalid>
LIFECYCLE_RULE_KEYS = {
    "Id", "Status", "Prefix", "ExpirationInDays", "ExpirationDate",
    "AbortIncompleteMultipartUpload", "NoncurrentVersionExpirationInDays",
    "NoncurrentVersionExpiration", "ExpiredObjectDeleteMarker",
}


def bucket_name(prefix: str, lid: str) -> str:
    name = f"{prefix}-{lid}".lower().replace("_", "-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        raise ProvisionError(f"{lid}: {name!r} is not a valid S3 bucket name; use a shorter --prefix")
    return name


def _lifecycle_rule(lid: str, rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as PutBucketLifecycleConfiguration wants it."""
    unknown = sorted(set(rule) - LIFECYCLE_RULE_KEYS)
    if unknown:
        print(f"  warning: {lid}: lifecycle rule {rule.get('Id')}: ignoring {', '.join(unknown)}")
    out: dict[str, Any] = {"Status": rule.get("Status", "Enabled"),
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    if rule.get("Id"):
        out["ID"] = rule["Id"]
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = str(rule["ExpiredObjectDeleteMarker"]).lower() == "true"
    if expiration:
        out["Expiration"] = expiration
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    if "NoncurrentVersionExpirationInDays" in rule:
        noncurrent = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    return out


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ServerSideEncryptionRule as PutBucketEncryption wants it."""
    out: dict[str, Any] = {}
    if "ServerSideEncryptionByDefault" in rule:
        out["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    if "BucketKeyEnabled" in rule:
        out["BucketKeyEnabled"] = _flag(rule["BucketKeyEnabled"])
    return out


def provision_bucket(s3, resolver: Resolver, lid: str, resource: dict[str, Any],
                     prefix: str) -> tuple[str, str]:
    props = resolver.resolve(resource.get("Properties") or {})
    unknown = sorted(set(props) - BUCKET_HANDLED - BUCKET_IGNORED)
    if unknown:
        print(f"  warning: {lid}: ignoring unsupported properties {', '.join(unknown)}")
    name = bucket_name(prefix, lid)
    try:
        s3.head_bucket(Bucket=name)
        status = "reused"
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=name)  # us-east-1: no LocationConstraint
        status = "created"

    encryption = props.get("BucketEncryption") or {}
    rules = encryption.get("ServerSideEncryptionConfiguration") or []
    if rules:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
            "Rules": [_encryption_rule(r) for r in rules]})
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            k: _flag(v) for k, v in block.items()})
    ownership = props.get("OwnershipControls")
    if ownership:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership)
    lifecycle = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
            "Rules": [_lifecycle_rule(lid, r) for r in lifecycle]})
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    if props.get("Tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": t["Key"], "Value": str(t["Value"])} for t in props["Tags"]]})
    settings = [what for what, on in (("SSE", rules), ("public access blocked", block),
                                      (f"{len(lifecycle)} lifecycle rule(s)", lifecycle),
                                      (f"versioning {versioning}", versioning)) if on]
    resolver.physical[lid] = {
        "Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
    }
    return name, status + (", " + ", ".join(settings) if settings else "")


def queue_order(queues: dict[str, dict[str, Any]]) -> list[str]:
    """Queues sorted so that a queue comes after every queue it references (DLQs first)."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(lid: str, path: list[str]) -> None:
        if state.get(lid) == "done":
            return
        if state.get(lid) == "visiting":
            raise ProvisionError("queue reference cycle: " + " -> ".join(path + [lid]))
        state[lid] = "visiting"
        for dep in sorted(references(queues[lid].get("Properties") or {}) & set(queues)):
            if dep != lid:
                visit(dep, path + [lid])
        state[lid] = "done"
        order.append(lid)

    for lid in sorted(queues):
        visit(lid, [])
    return order


# --------------------------------------------------------------------------- DynamoDB

TABLE_IGNORED = {  # no local meaning (or not worth emulating); everything else unknown warns
    "TableName", "SSESpecification", "PointInTimeRecoverySpecification",
    "DeletionProtectionEnabled", "ContributorInsightsSpecification",
    "KinesisStreamSpecification", "ResourcePolicy", "WarmThroughput", "OnDemandThroughput",
    "TimeToLiveSpecification",  # applied after creation with UpdateTimeToLive
}
TABLE_HANDLED = {
    "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
    "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "Tags", "TableClass",
}
INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


def _index(spec: dict[str, Any], provisioned: bool) -> dict[str, Any]:
    out = {k: spec[k] for k in INDEX_KEYS if k in spec}
    if not provisioned:
        out.pop("ProvisionedThroughput", None)
    return out


def _key_schema(schema: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((k["AttributeName"], k["KeyType"]) for k in schema)


def provision_table(ddb, resolver: Resolver, lid: str, resource: dict[str, Any],
                    prefix: str) -> tuple[str, str]:
    props = resolver.resolve(resource.get("Properties") or {})
    unknown = sorted(set(props) - TABLE_HANDLED - TABLE_IGNORED)
    if unknown:
        print(f"  warning: {lid}: ignoring unsupported properties {', '.join(unknown)}")
    name = f"{prefix}-{lid}"
    billing = props.get("BillingMode", "PROVISIONED")
    provisioned = billing == "PROVISIONED"
    gsis = [_index(g, provisioned) for g in props.get("GlobalSecondaryIndexes") or []]

    try:
        desc = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        desc = None

    if desc is None:
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if provisioned:
            if "ProvisionedThroughput" not in props:
                raise ProvisionError(f"{lid}: PROVISIONED billing needs ProvisionedThroughput")
            kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        if props.get("LocalSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = [_index(i, False) for i in props["LocalSecondaryIndexes"]]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True,
                                             "StreamViewType": stream["StreamViewType"]}
        if props.get("Tags"):
            kwargs["Tags"] = [{"Key": t["Key"], "Value": str(t["Value"])} for t in props["Tags"]]
        if props.get("TableClass"):
            kwargs["TableClass"] = props["TableClass"]
        ddb.create_table(**kwargs)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        desc = ddb.describe_table(TableName=name)["Table"]
        status = "created"
    else:
        if _key_schema(desc["KeySchema"]) != _key_schema(props["KeySchema"]):
            raise ProvisionError(
                f"{lid}: existing local table {name} has key schema {desc['KeySchema']}, the "
                f"template says {props['KeySchema']}; delete it (or restart moto) or use another --prefix")
        existing = {g["IndexName"] for g in desc.get("GlobalSecondaryIndexes") or []}
        missing = [g for g in gsis if g["IndexName"] not in existing]
        if missing:
            ddb.update_table(TableName=name, AttributeDefinitions=props["AttributeDefinitions"],
                             GlobalSecondaryIndexUpdates=[{"Create": g} for g in missing])
        extra = existing - {g["IndexName"] for g in gsis}
        if extra:
            print(f"  warning: {lid}: local table has indexes not in the template: {sorted(extra)}")
        status = "reused" + (f", added GSI {[g['IndexName'] for g in missing]}" if missing else "")

    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        status += ", " + apply_ttl(ddb, name, ttl)

    resolver.physical[lid] = {"Ref": name, "Arn": desc["TableArn"]}
    if desc.get("LatestStreamArn"):
        resolver.physical[lid]["StreamArn"] = desc["LatestStreamArn"]
    return name, status


def apply_ttl(ddb, name: str, spec: dict[str, Any]) -> str:
    want_enabled = str(spec.get("Enabled", False)).lower() == "true"
    want_attr = spec.get("AttributeName")
    current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    enabled = current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    if want_enabled:
        if enabled and current.get("AttributeName") == want_attr:
            return f"TTL {want_attr} (already)"
        if enabled:  # another attribute: switch (real DynamoDB would need a wait in between)
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": False, "AttributeName": current["AttributeName"]})
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": want_attr})
        return f"TTL {want_attr}"
    if enabled:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": False, "AttributeName": current["AttributeName"]})
        return "TTL disabled"
    return "no TTL"


# --------------------------------------------------------------------------- environment

ENV_VALUE_OK = re.compile(r"[A-Za-z0-9_./:,@%+=~-]*")
# Variables the local stack sets itself: its own webhook server stands in for the HTTP API, so
# stack.sh writes WEBHOOK_URL (the template's points at API Gateway, not created locally).
LOCALLY_PROVIDED = {"WEBHOOK_URL"}


def function_environment(doc: dict[str, Any], resolver: Resolver,
                         included: dict[str, dict[str, Any]]) -> dict[str, str]:
    globals_vars = (((doc.get("Globals") or {}).get("Function") or {}).get("Environment") or {}) \
        .get("Variables") or {}
    env: dict[str, str] = {}
    origin: dict[str, str] = {}
    for lid, resource in sorted(included.items()):
        rtype = resource.get("Type")
        if rtype not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        own = (((resource.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}
        merged = dict(globals_vars) if rtype == "AWS::Serverless::Function" else {}
        merged.update(own)
        for key, raw in merged.items():
            if key in LOCALLY_PROVIDED:
                continue
            try:
                value = resolver.resolve(raw)
                if value is NO_VALUE:
                    continue
                value = _scalar_str(value, f"{lid}.{key}")
            except Unresolvable as exc:
                raise ProvisionError(f"{lid}: environment variable {key}: {exc}") from None
            if key in env and env[key] != value:
                raise ProvisionError(
                    f"environment variable {key} differs between functions: "
                    f"{origin[key]}={env[key]!r}, {lid}={value!r}")
            env[key] = value
            origin.setdefault(key, lid)
    return env


def dead_letter_urls(env: dict[str, str], queues: dict[str, dict[str, Any]],
                     resolver: Resolver) -> dict[str, str]:
    """For each FOO_QUEUE_URL pointing at a queue with a RedrivePolicy, FOO_DLQ_URL."""
    by_url = {resolver.physical[lid]["QueueUrl"]: lid for lid in queues if lid in resolver.physical}
    by_arn = {resolver.physical[lid]["Arn"]: lid for lid in queues if lid in resolver.physical}
    out: dict[str, str] = {}
    for key, value in env.items():
        if not key.endswith("_QUEUE_URL") or value not in by_url:
            continue
        props = resolver.resolve(queues[by_url[value]].get("Properties") or {})
        redrive = props.get("RedrivePolicy")
        if not redrive:
            continue
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        dlq = by_arn.get(redrive.get("deadLetterTargetArn"))
        if dlq:
            out[key[: -len("_QUEUE_URL")] + "_DLQ_URL"] = resolver.physical[dlq]["QueueUrl"]
    return out


def write_env_file(path: Path, env: dict[str, str]) -> None:
    for key, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ProvisionError(f"invalid environment variable name {key!r}")
        if not ENV_VALUE_OK.fullmatch(value):
            raise ProvisionError(
                f"{key}={value!r} contains characters that env-file readers disagree on "
                "(space, quote, $, #, newline ...)")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{k}={env[k]}\n" for k in sorted(env))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                   help="local server URL (default: $AWS_ENDPOINT_URL), e.g. http://127.0.0.1:4599")
    p.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    p.add_argument("--prefix", default="stockbridge-local",
                   help="physical names are <prefix>-<LogicalId> (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a template parameter's Default (repeatable)")
    p.add_argument("--env-file", type=Path, default=DEFAULT_ENV_FILE,
                   help="where to write KEY=VALUE lines (default: infra/local/.state/local.env)")
    p.add_argument("--shop-secret", action="append", default=[], metavar="SHOP=SECRET[,PREVIOUS]",
                   help="also store a SecureString <ShopSecretsParameterPath>/<SHOP> in local SSM")
    return p.parse_args(argv)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ProvisionError(f"{flag} expects NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> None:
    if not args.endpoint:
        raise ProvisionError("no endpoint: pass --endpoint or set AWS_ENDPOINT_URL "
                             "(this script only talks to a local server)")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", args.prefix):
        raise ProvisionError("--prefix may use letters, digits, '-' and '_' (at most 40)")
    overrides = _pairs(args.param, "--param")
    shop_secrets = _pairs(args.shop_secret, "--shop-secret")

    # Dummy credentials only; never a profile or the caller's real keys.
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    session = boto3.session.Session(aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
                                    region_name=REGION)
    cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3, read_timeout=30)

    def client(service: str):
        # Path-style S3 addressing: a local endpoint has no per-bucket host names.
        config = cfg.merge(Config(s3={"addressing_style": "path"})) if service == "s3" else cfg
        return session.client(service, endpoint_url=args.endpoint, config=config)

    doc = load_template(args.template)
    resolver = Resolver(doc, overrides, args.prefix,
                        lambda: client("sts").get_caller_identity()["Account"])

    included = {}
    for lid, resource in doc["Resources"].items():
        cond = (resource or {}).get("Condition")
        if cond is None or resolver.condition(cond):
            included[lid] = resource
    queues = {lid: r for lid, r in included.items() if r.get("Type") == "AWS::SQS::Queue"}
    tables = {lid: r for lid, r in included.items() if r.get("Type") == "AWS::DynamoDB::Table"}
    buses = sorted(lid for lid, r in included.items() if r.get("Type") == "AWS::Events::EventBus")
    buckets = {lid: r for lid, r in included.items() if r.get("Type") == "AWS::S3::Bucket"}

    print(f"provisioning {args.template.name} on {args.endpoint} (prefix {args.prefix})")
    sqs, ddb = client("sqs"), client("dynamodb")
    for lid in queue_order(queues):
        name, status = provision_queue(sqs, resolver, lid, queues[lid], args.prefix)
        print(f"  queue {lid:<24} {name}  [{status}]")
    for lid in sorted(tables):
        name, status = provision_table(ddb, resolver, lid, tables[lid], args.prefix)
        print(f"  table {lid:<24} {name}  [{status}]")
    for lid in buses:
        name, status = provision_bus(client("events"), resolver, lid, args.prefix)
        print(f"  bus   {lid:<24} {name}  [{status}]")
    for lid in sorted(buckets):
        name, status = provision_bucket(client("s3"), resolver, lid, buckets[lid], args.prefix)
        print(f"  s3    {lid:<24} {name}  [{status}]")

    if shop_secrets:
        if "ShopSecretsParameterPath" not in resolver.params:
            raise ProvisionError("--shop-secret: the template has no ShopSecretsParameterPath")
        ssm = client("ssm")
        base = resolver.params["ShopSecretsParameterPath"].rstrip("/")
        for shop, secret in sorted(shop_secrets.items()):
            ssm.put_parameter(Name=f"{base}/{shop}", Value=secret, Type="SecureString", Overwrite=True)
            print(f"  ssm   {base}/{shop}  [SecureString]")

    env = function_environment(doc, resolver, included)
    extra = dead_letter_urls(env, queues, resolver)
    extra.update({
        "AWS_ENDPOINT_URL": args.endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
    })
    clash = sorted(k for k in extra if k in env and env[k] != extra[k])
    if clash:
        raise ProvisionError(f"template sets variables provision.py writes itself: {', '.join(clash)}")
    env.update(extra)
    write_env_file(args.env_file, env)
    print(f"wrote {len(env)} variables to {args.env_file}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except ProvisionError as exc:
        print(f"provision.py: error: {exc}", file=sys.stderr)
        return 1
    except EndpointConnectionError as exc:
        print(f"provision.py: error: cannot reach {args.endpoint} ({exc}); is moto_server running?",
              file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"provision.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
