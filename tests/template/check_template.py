"""The deployment's access rules, checked on the template as CloudFormation will see it: SAM's
transform is run here, offline (with placeholder code locations, as `sam package` would set them),
then every API Gateway route but GET /health must need an authorizer under either value of
ApiAuthorizer, every stage must be throttled and write access logs to a log group that expires
them, the score function's concurrency must be capped, no function may carry a secret in its
environment (a secret-looking name, or a value CloudFormation resolves from a secret store), and
no role may read every secret. Run by scripts/test.sh with the
project's .venv (aws-sam-cli brings the translator). Exits 1 naming every problem."""

import copy
import logging
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The translator warns of usage metrics it would publish to AWS; nothing is published here.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


class NoManagedPolicies:
    """The template names no managed policy by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


def translated(template):
    template = copy.deepcopy(template)
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://packaged/code.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"]["DefinitionUri"] = "s3://packaged/definition.json"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    return transform(template, pseudo, NoManagedPolicies())


def branches(value):
    """Both outcomes of an Fn::If, or the value itself."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        return branches(yes) + branches(no)
    return [value]


def route_problems(name, props):
    if props["RouteKey"] == "GET /health":
        return []
    problems = []
    for kind in branches(props.get("AuthorizationType", "NONE")):
        if kind in ("NONE", None):
            problems.append(f"{name} ({props['RouteKey']}): a branch has no authorizer")
    if "JWT" in branches(props.get("AuthorizationType")) and "AuthorizerId" not in props:
        problems.append(f"{name} ({props['RouteKey']}): JWT without an AuthorizerId")
    return problems


def stage_problems(name, props, resources):
    problems = []
    route = props.get("DefaultRouteSettings", {})
    for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        if key not in route:
            problems.append(f"{name}: no {key}")
    target = props.get("AccessLogSettings", {}).get("DestinationArn", {})
    group = target.get("Fn::GetAtt", [None])[0] if isinstance(target, dict) else None
    if group not in resources or resources[group]["Type"] != "AWS::Logs::LogGroup":
        problems.append(f"{name}: access logs do not go to a log group of the stack")
    elif "RetentionInDays" not in resources[group]["Properties"]:
        problems.append(f"{name}: the access log group {group} keeps lines forever")
    return problems


SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "PRIVATE_KEY", "API_KEY")
REFERENCE_SUFFIXES = ("_ARN", "_ID", "_NAME")


def function_problems(name, props):
    """A secret in the environment is readable by anyone allowed lambda:GetFunctionConfiguration."""
    problems = []
    for key, value in props.get("Environment", {}).get("Variables", {}).items():
        if "{{resolve:" in str(value):
            problems.append(f"{name}: {key} is resolved from a secret store into the environment")
        elif any(w in key for w in SECRET_WORDS) and not key.endswith(REFERENCE_SUFFIXES):
            problems.append(f"{name}: {key} looks like a secret in the environment")
    return problems


def role_problems(name, props):
    problems = []
    for policy in props.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if any(a.startswith("secretsmanager:") or a == "*" for a in actions):
                for resource in branches(statement.get("Resource")):
                    if resource == "*" or (isinstance(resource, str) and resource.endswith(":secret:*")):
                        problems.append(f"{name}: may read every secret")
    return problems


def problems_of(template):
    resources = translated(template)["Resources"]
    problems = []
    routes = 0
    for name, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::ApiGatewayV2::Api" and "Body" in props:
            problems.append(f"{name}: an API from SAM events; its routes are not checked here")
        if kind == "AWS::ApiGatewayV2::Route":
            routes += 1
            problems += route_problems(name, props)
        if kind == "AWS::ApiGatewayV2::Stage":
            problems += stage_problems(name, props, resources)
        if kind == "AWS::Lambda::Function":
            problems += function_problems(name, props)
        if kind == "AWS::IAM::Role":
            problems += role_problems(name, props)
    if routes == 0:
        problems.append("no API Gateway route found")
    if "ReservedConcurrentExecutions" not in resources["ScoreFunction"]["Properties"]:
        problems.append("ScoreFunction: no reserved concurrency")
    return problems, routes


def secret_statement(template):
    """The score function's statement that grants GetSecretValue."""
    for policy in template["Resources"]["ScoreFunction"]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []):
            if statement.get("Action") == "secretsmanager:GetSecretValue":
                return statement
    raise KeyError("no GetSecretValue statement on ScoreFunction")


def self_test(template):
    """Each rule catches the template with its safeguard removed (the check can fail)."""
    resources = "Resources"
    breaks = {
        "an open scoring route": lambda t: t[resources]["PredictRoute"]["Properties"].update(AuthorizationType="NONE"),
        "no throttling": lambda t: t[resources]["HttpApiStage"]["Properties"]["DefaultRouteSettings"].pop("ThrottlingRateLimit"),
        "logs kept forever": lambda t: t[resources]["ApiAccessLogs"]["Properties"].pop("RetentionInDays"),
        "no concurrency cap": lambda t: t[resources]["ScoreFunction"]["Properties"].pop("ReservedConcurrentExecutions"),
        "a secret resolved into an environment": lambda t: t[resources]["ScoreFunction"]["Properties"]["Environment"]["Variables"].update(
            CARD_KEY="{{resolve:secretsmanager:card-hash:SecretString}}"),
        "a secret value in an environment": lambda t: t[resources]["TrainFunction"]["Properties"].setdefault("Environment", {}).setdefault("Variables", {}).update(
            MLFLOW_TOKEN="abc"),
        "every secret readable": lambda t: secret_statement(t).update(Resource="*"),
    }
    missed = []
    for what, damage in breaks.items():
        broken = copy.deepcopy(template)
        try:
            damage(broken)
        except KeyError:
            continue  # the template has no such safeguard to remove
        if not problems_of(broken)[0]:
            missed.append(what)
    return missed


def main(path):
    template = yaml_parse(open(path).read())
    missed = self_test(template)
    problems, routes = problems_of(template)
    problems += [f"the check did not notice {what}" for what in missed]
    for problem in problems:
        print(f"{path}: {problem}")
    if problems:
        sys.exit(1)
    print(f"{path}: {routes} routes, all but GET /health behind an authorizer; stages throttled and logged; no secret in any function's environment; no role reads every secret")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
