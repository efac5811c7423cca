"""Draws the architecture from the templates themselves: cloudformation/architecture.png.

Every resource of the nested templates is either drawn (DRAWN: type -> icon) or named as
plumbing (NOT_DRAWN): a new resource type fails the build until it is placed, and every edge
names logical ids that must exist. The nodes and edges also go to cloudformation/architecture.txt
with the PNG's SHA-256, so tests/infra/test_diagram.py sees when templates and picture part ways.

    python scripts/diagram.py            # write the PNG and the listing (needs diagrams + graphviz)
    python scripts/diagram.py --list     # print the listing only (no graphviz needed)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from cfnlint.decode import decode_str

REPO_ROOT = Path(__file__).resolve().parent.parent
CFN_DIR = REPO_ROOT / "cloudformation"
PNG = CFN_DIR / "architecture.png"
LISTING = CFN_DIR / "architecture.txt"
LAYERS = [
    "network.yaml",
    "registry.yaml",
    "edge.yaml",
    "service.yaml",
    "monitoring.yaml",
    "github-oidc.yaml",
]

# CloudFormation type -> (diagrams module, class). Only what a reader needs to see.
DRAWN = {
    "AWS::EC2::InternetGateway": ("aws.network", "InternetGateway"),
    "AWS::EC2::Subnet": ("aws.network", "PublicSubnet"),  # private ones switch icon below
    "AWS::EC2::NatGateway": ("aws.network", "NATGateway"),
    "AWS::EC2::VPCEndpoint": ("aws.network", "Endpoint"),
    "AWS::ECR::Repository": ("aws.compute", "EC2ContainerRegistry"),
    "AWS::ECS::Cluster": ("aws.compute", "ElasticContainerService"),
    "AWS::ECS::Service": ("aws.compute", "Fargate"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("aws.network", "ElbApplicationLoadBalancer"),
    "AWS::Logs::LogGroup": ("aws.management", "CloudwatchLogs"),
    "AWS::CloudWatch::Alarm": ("aws.management", "CloudwatchAlarm"),
    "AWS::CloudWatch::Dashboard": ("aws.management", "Cloudwatch"),
    "AWS::SNS::Topic": ("aws.integration", "SimpleNotificationServiceSnsTopic"),
    "AWS::IAM::OIDCProvider": ("aws.security", "IdentityAndAccessManagementIamAWSSts"),
    "AWS::IAM::Role": ("aws.security", "IdentityAndAccessManagementIamRole"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ("aws.management", "AutoScaling"),
    "AWS::WAFv2::WebACL": ("aws.security", "WAF"),
    "AWS::S3::Bucket": ("aws.storage", "SimpleStorageServiceS3Bucket"),
    "AWS::CertificateManager::Certificate": ("aws.security", "CertificateManager"),
    "AWS::Route53::RecordSet": ("aws.network", "Route53"),
}
# Plumbing a reader of the picture does not need; listed so that nothing new slips by unplaced.
NOT_DRAWN = {
    "AWS::Logs::QueryDefinition",  # saved queries: no part of the running system
    "AWS::EC2::VPC",  # drawn as the enclosing cluster
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::RouteTable",
    "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::EIP",
    "AWS::EC2::SecurityGroup",  # shown as the ALB -> task edge label
    "AWS::ECS::TaskDefinition",  # shown in the service's label
    "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::SNS::Subscription",  # drawn as the e-mail node when AlarmEmail is set
    "AWS::S3::BucketPolicy",
    "AWS::WAFv2::WebACLAssociation",  # drawn as the web ACL -> load balancer edge
    "AWS::WAFv2::LoggingConfiguration",  # drawn as the web ACL -> WAF log group edge
    "AWS::CloudFormation::Stack",  # the delivery layer: absent with the default ROLLING strategy
    "AWS::SNS::TopicPolicy",  # TLS-only publishing: a property of the topic
    "AWS::EC2::FlowLog",  # drawn as the flow-log role -> flow-log group edge
}
# Alarms are many: one node stands for all of them.
GROUPED = {"AWS::CloudWatch::Alarm": "Alarms"}

# Edges between logical ids (or the external nodes); checked against the templates.
EXTERNAL = {"Users": "Internet users", "GitHubActions": "GitHub Actions (OIDC)", "Email": "e-mail"}
EDGES = [
    ("Users", "DnsRecord", "DomainName (optional)"),
    ("DnsRecord", "LoadBalancer", "alias A"),
    ("Certificate", "LoadBalancer", "TLS 1.3 (DomainName)"),
    ("Users", "InternetGateway", "HTTP(S)"),
    ("InternetGateway", "LoadBalancer", "80 / 443"),
    ("WebAcl", "LoadBalancer", "filters (EnableWaf)"),
    ("LoadBalancer", "AccessLogsBucket", "access logs"),
    ("WebAcl", "WafLogGroup", "blocked requests"),
    ("LoadBalancer", "Service", "8000, ALB SG only"),
    ("Service", "NatGateway1", "pull image, logs"),
    ("Service", "S3GatewayEndpoint", "image layers"),
    ("Repository", "Service", "image :<git sha>"),
    ("Service", "LogGroup", "awslogs non-blocking"),
    ("FlowLogRole", "FlowLogGroup", "VPC flow logs (EnableVpcFlowLogs)"),
    ("Alarms", "AlarmTopic", ""),
    ("AlarmTopic", "Email", "optional"),
    ("GitHubActions", "GitHubOidcProvider", "OIDC token"),
    ("GitHubOidcProvider", "DeployRole", "AssumeRoleWithWebIdentity (aud, sub, ref)"),
    ("DeployRole", "Repository", "push"),
    ("DeployRole", "Service", "change set: ImageTag"),
    ("CpuScalingPolicy", "Service", "CPU target tracking"),
]


def load(name: str) -> dict:
    template, errors = decode_str((CFN_DIR / name).read_text())
    if errors:
        raise SystemExit(f"diagram: cannot parse {name}: {errors[0]}")
    return template


def nodes() -> dict[str, tuple[str, str, str]]:
    """Logical id -> (layer, CloudFormation type, label) of everything drawn, from the templates."""
    found: dict[str, tuple[str, str, str]] = {}
    for layer in LAYERS:
        for logical_id, resource in load(layer)["Resources"].items():
            kind = resource["Type"]
            if kind in NOT_DRAWN:
                continue
            if kind not in DRAWN:
                raise SystemExit(
                    f"diagram: {layer} {logical_id} is a {kind}, which scripts/diagram.py neither "
                    "draws (DRAWN) nor skips (NOT_DRAWN): place it"
                )
            node_id = GROUPED.get(kind, logical_id)
            label = label_for(node_id, kind, resource)
            found[node_id] = (layer, kind, label)
    for node_id, label in EXTERNAL.items():
        found[node_id] = ("external", "external", label)
    return found


def label_for(node_id: str, kind: str, resource: dict) -> str:
    if kind == "AWS::CloudWatch::Alarm":
        return "Alarms (CPU, memory, tasks < desired,\n5xx, p99, unhealthy hosts)"
    if kind == "AWS::ECS::Service":
        return (
            "Fargate service\n2 tasks, private subnets, no public IP\nuser 10001, read-only rootfs"
        )
    if kind == "AWS::EC2::NatGateway" and resource.get("Condition"):
        return f"{node_id}\n(NatGateways=per-az)"
    if resource.get("Condition") == "HasDomain":
        return f"{node_id}\n(DomainName + HostedZoneId)"
    return node_id


def edges(found: dict) -> list[tuple[str, str, str]]:
    for source, target, _ in EDGES:
        for end in (source, target):
            if end not in found:
                raise SystemExit(f"diagram: edge end {end} is no longer in the templates")
    return EDGES


def listing() -> str:
    found = nodes()
    lines = [
        f"node {layer} {node_id} {kind}" for node_id, (layer, kind, _) in sorted(found.items())
    ]
    lines += [f"edge {s} -> {t}" for s, t, _ in sorted(edges(found))]
    return "\n".join(lines) + "\n"


def draw() -> None:
    try:
        from diagrams import Cluster, Diagram, Edge
    except ImportError as error:
        raise SystemExit(
            f"diagram: the diagrams package is missing ({error}); run scripts/diagram.sh"
        ) from error
    import importlib

    found = nodes()

    def icon(node_id: str):
        _, kind, label = found[node_id]
        if kind == "external":
            module, cls = {
                "Users": ("onprem.client", "Users"),
                "GitHubActions": ("onprem.ci", "GithubActions"),
                "Email": ("generic.device", "Mobile"),
            }[node_id]
        elif kind == "AWS::EC2::Subnet" and node_id.startswith("Private"):
            module, cls = "aws.network", "PrivateSubnet"
        else:
            module, cls = DRAWN[kind]
        return getattr(importlib.import_module(f"diagrams.{module}"), cls)(label)

    graph = {"fontsize": "14", "pad": "0.4", "splines": "spline"}
    with Diagram(
        "Predict API on ECS Fargate",
        filename=str(PNG.with_suffix("")),
        outformat="png",
        show=False,
        direction="LR",
        graph_attr=graph,
    ):
        drawn = {}
        for node_id in ("Users", "GitHubActions", "Email"):
            drawn[node_id] = icon(node_id)
        with Cluster("AWS account, one region"):
            with Cluster("VPC (network.yaml), two Availability Zones"):
                for node_id in (
                    "InternetGateway",
                    "S3GatewayEndpoint",
                    "FlowLogRole",
                    "FlowLogGroup",
                ):
                    drawn[node_id] = icon(node_id)
                for az in ("1", "2"):
                    with Cluster(f"AZ {az}"):
                        for node_id in (
                            f"PublicSubnet{az}",
                            f"NatGateway{az}",
                            f"PrivateSubnet{az}",
                        ):
                            drawn[node_id] = icon(node_id)
                with Cluster("service.yaml"):
                    for node_id in ("LoadBalancer", "Cluster", "Service", "CpuScalingPolicy"):
                        drawn[node_id] = icon(node_id)
                    for node_id in ("Certificate", "DnsRecord"):
                        drawn[node_id] = icon(node_id)
                    for node_id in ("ExecutionRole", "TaskRole", "LogGroup", "AlarmTopic"):
                        drawn[node_id] = icon(node_id)
            with Cluster("registry.yaml"):
                drawn["Repository"] = icon("Repository")
            with Cluster("edge.yaml"):
                for node_id in ("WebAcl", "AccessLogsBucket", "WafLogGroup"):
                    drawn[node_id] = icon(node_id)
            with Cluster("monitoring.yaml"):
                for node_id in ("Dashboard", "Alarms"):
                    drawn[node_id] = icon(node_id)
            with Cluster("github-oidc.yaml"):
                for node_id in ("GitHubOidcProvider", "DeployRole"):
                    drawn[node_id] = icon(node_id)
        missing = set(found) - set(drawn)
        if missing:
            raise SystemExit(f"diagram: nodes without a place in the picture: {sorted(missing)}")
        for source, target, label in edges(found):
            drawn[source] >> Edge(label=label) >> drawn[target]
        for az in ("1", "2"):
            drawn[f"PrivateSubnet{az}"] - Edge(style="dotted") - drawn["Service"]
            drawn[f"PublicSubnet{az}"] - Edge(style="dotted") - drawn["LoadBalancer"]
    digest = hashlib.sha256(PNG.read_bytes()).hexdigest()
    LISTING.write_text(f"png-sha256 {digest}\n" + listing())
    print(f"diagram: wrote {PNG.relative_to(REPO_ROOT)} and {LISTING.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--list"]:
        sys.stdout.write(listing())
    elif sys.argv[1:]:
        raise SystemExit("usage: python scripts/diagram.py [--list]")
    else:
        draw()
