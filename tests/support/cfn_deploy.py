#!/usr/bin/env python3
"""Deploys one deploy/aws CloudFormation template into moto's CloudFormation (tests/it/aws_cfn.rs)
with boto3, as `aws cloudformation deploy` would, and prints the stack's outputs as JSON.

Usage: cfn_deploy.py --endpoint URL --stack NAME --template FILE [--param KEY=VALUE ...]
Credentials come from the environment (moto accepts any). Exit 1 with the stack's events on
stderr when the stack does not reach CREATE_COMPLETE.
"""

import argparse
import json
import sys
import time

import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stack", required=True)
    ap.add_argument("--template", required=True)
    ap.add_argument("--param", action="append", default=[])
    a = ap.parse_args()
    cf = boto3.client("cloudformation", endpoint_url=a.endpoint, region_name="us-east-1")
    params = []
    for p in a.param:
        key, _, value = p.partition("=")
        params.append({"ParameterKey": key, "ParameterValue": value})
    with open(a.template, encoding="utf-8") as f:
        body = f.read()
    cf.create_stack(
        StackName=a.stack,
        TemplateBody=body,
        Parameters=params,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 60
    while True:
        stack = cf.describe_stacks(StackName=a.stack)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            json.dump(outputs, sys.stdout)
            return 0
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cf.describe_stack_events(StackName=a.stack)["StackEvents"]
            for e in events:
                print(e.get("LogicalResourceId"), e.get("ResourceStatus"), e.get("ResourceStatusReason"), file=sys.stderr)
            print(f"stack {a.stack}: {status}", file=sys.stderr)
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
