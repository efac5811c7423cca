"""edge.yaml rendered with cloud-radar: the access-log bucket and who may write to it in each kind
of region, and the optional WAF web ACL with its rules, its log group and what it hands on."""

from __future__ import annotations

import pytest

from .conftest import ACCOUNT, STACK, edge_params, render, root_params

# The Elastic Load Balancing accounts AWS documents for the regions available before August 2022
# ("Enable access logs for your Application Load Balancer", step 2; GovCloud and China: their docs).
LEGACY_ELB_ACCOUNTS = {
    "us-east-1": "127311923021",
    "eu-west-1": "156460612806",
    "ap-southeast-3": "589379963580",
    "us-gov-west-1": "048591011584",
    "cn-north-1": "638102146993",
}
# Regions opened in August 2022 or later: the log-delivery service principal.
NEWER_REGIONS = ["il-central-1", "mx-central-1", "eu-central-2"]


def edge(region: str = "us-east-1", **overrides):
    """edge.yaml as the root renders it in that region (with that region's log-delivery account)."""
    root = render("root.yaml", root_params(ImageTag="abc1234"), region=region)
    account = root["Resources"]["Edge"]["Properties"]["Parameters"]["ElbLogDeliveryAccount"]
    return render(
        "edge.yaml", edge_params(ElbLogDeliveryAccount=account, **overrides), region=region
    )


def statements(stack) -> list[dict]:
    return stack["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]


def delivery_statement(stack) -> dict:
    (statement,) = [s for s in statements(stack) if s["Effect"] == "Allow"]
    return statement


def test_the_bucket_is_private_encrypted_with_sse_s3_and_expires_logs():
    bucket = edge(AccessLogRetentionDays=45)["Resources"]["AccessLogsBucket"]
    properties = bucket["Properties"]
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # ELB access-log delivery supports SSE-S3 only.
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (lifecycle,) = properties["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled"
    assert int(lifecycle["ExpirationInDays"]) == 45
    # CloudFormation cannot delete a bucket that holds logs: the stack keeps it instead of failing.
    assert bucket["DeletionPolicy"] == "Retain"


def test_the_bucket_refuses_plain_http():
    (deny,) = [s for s in statements(edge()) if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2  # the bucket and its objects


@pytest.mark.parametrize("region", sorted(LEGACY_ELB_ACCOUNTS))
def test_regions_before_august_2022_grant_the_regions_elb_account(region):
    statement = delivery_statement(edge(region))
    # The partition comes from AWS::Partition (cloud-radar renders it as "aws" everywhere).
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{LEGACY_ELB_ACCOUNTS[region]}:root"}
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"].endswith(f"/AWSLogs/{ACCOUNT}/*")


@pytest.mark.parametrize("region", NEWER_REGIONS)
def test_newer_regions_grant_the_log_delivery_service_principal(region):
    statement = delivery_statement(edge(region))
    assert statement["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"].endswith(f"/AWSLogs/{ACCOUNT}/*")


def test_waf_is_on_by_default_with_a_rate_limit_and_the_managed_groups_for_an_api():
    stack = edge(WafRateLimit=500)
    acl = stack["Resources"]["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rate = rules["rate-limit-per-ip"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert int(rate["Statement"]["RateBasedStatement"]["Limit"]) == 500
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]: rule
        for rule in acl["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert set(managed) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    for rule in managed.values():
        assert rule["OverrideAction"] == {"None": {}}, (
            "a managed group only counting blocks nothing"
        )
    priorities = [rule["Priority"] for rule in acl["Rules"]]
    assert len(set(priorities)) == len(priorities)
    # Each rule's metric name is the Rule dimension the dashboard's per-rule widget reads.
    for rule in acl["Rules"]:
        assert rule["VisibilityConfig"]["MetricName"] == rule["Name"]


def test_only_no_user_agent_is_relaxed_in_the_common_rule_set():
    acl = edge()["Resources"]["WebAcl"]["Properties"]
    (common,) = [
        rule
        for rule in acl["Rules"]
        if rule["Statement"].get("ManagedRuleGroupStatement", {}).get("Name")
        == "AWSManagedRulesCommonRuleSet"
    ]
    overrides = common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    assert overrides == [{"Name": "NoUserAgent_HEADER", "ActionToUse": {"Count": {}}}]


def test_waf_logs_blocked_and_counted_requests_to_a_log_group_named_as_waf_requires():
    # Counted includes EXCLUDED_AS_COUNT: a managed group's rule overridden to Count
    # (NoUserAgent_HEADER here) is logged with that action, not COUNT (AWS WAF API reference,
    # ActionCondition).
    stack = edge(LogRetentionDays=14)
    group = stack["Resources"]["WafLogGroup"]["Properties"]
    assert group["LogGroupName"].startswith("aws-waf-logs-")
    assert int(group["RetentionInDays"]) == 14
    logging = stack["Resources"]["WafLogging"]["Properties"]
    (destination,) = logging["LogDestinationConfigs"]
    # The log group's ARN without the ":*" Fn::GetAtt would add (cloud-radar renders Ref as the id).
    assert destination.endswith(":log-group:WafLogGroup")
    kept = logging["LoggingFilter"]["Filters"][0]
    assert logging["LoggingFilter"]["DefaultBehavior"] == "DROP" and kept["Behavior"] == "KEEP"
    actions = {condition["ActionCondition"]["Action"] for condition in kept["Conditions"]}
    assert actions == {"BLOCK", "COUNT", "EXCLUDED_AS_COUNT"}
    assert kept["Requirement"] == "MEETS_ANY"


def test_waf_outputs_name_the_acl_and_carry_its_dashboard_widgets():
    outputs = edge()["Outputs"]
    assert outputs["WebAclArn"]["Value"]
    assert outputs["WebAclName"]["Value"] == f"{STACK}-edge"
    widgets = outputs["DashboardWidgets"]["Value"]
    assert widgets.startswith(",") and f'"WebACL", "{STACK}-edge"' in widgets


def test_waf_off_creates_no_web_acl_and_hands_on_empty_values():
    stack = edge(EnableWaf="false")
    for name in ("WebAcl", "WafLogGroup", "WafLogging"):
        assert name not in stack["Resources"]
    assert "AccessLogsBucket" in stack["Resources"]
    for name in ("WebAclArn", "WebAclName", "DashboardWidgets", "WafLogGroupName"):
        # (cloud-radar drops an output value that renders to "".)
        assert stack["Outputs"][name].get("Value", "") == "", name


@pytest.mark.parametrize(
    "overrides",
    [{"WafRateLimit": 9}, {"AccessLogRetentionDays": 0}, {"EnableWaf": "yes"}],
)
def test_out_of_range_parameters_are_refused(overrides):
    (name,) = overrides
    with pytest.raises(ValueError, match=f"for parameter {name}$"):
        edge(**overrides)
