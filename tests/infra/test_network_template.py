"""network.yaml: two AZs, public/private subnets, and both NAT layouts."""

from __future__ import annotations

import ipaddress

import pytest

from .conftest import refused_for, render, resources_of_type


def props(stack, name):
    return stack["Resources"][name]["Properties"]


@pytest.fixture(scope="module")
def shared():
    return render("network.yaml")


def test_four_non_overlapping_subnets_over_two_azs(shared):
    subnets = resources_of_type(shared, "AWS::EC2::Subnet")
    assert set(subnets) == {"PublicSubnet1", "PublicSubnet2", "PrivateSubnet1", "PrivateSubnet2"}
    networks = [ipaddress.ip_network(s["Properties"]["CidrBlock"]) for s in subnets.values()]
    vpc = ipaddress.ip_network("10.0.0.0/16")
    assert all(n.subnet_of(vpc) for n in networks)
    assert all(not a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    assert props(shared, "PublicSubnet1")["AvailabilityZone"] == "us-east-1a"
    assert props(shared, "PublicSubnet2")["AvailabilityZone"] == "us-east-1b"
    assert props(shared, "PrivateSubnet1")["AvailabilityZone"] == "us-east-1a"
    assert props(shared, "PrivateSubnet2")["AvailabilityZone"] == "us-east-1b"
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())


def test_public_subnets_route_to_the_internet_gateway(shared):
    assert props(shared, "PublicDefaultRoute")["GatewayId"] == "InternetGateway"
    for n in (1, 2):
        assert props(shared, f"PublicSubnet{n}Routes")["RouteTableId"] == "PublicRouteTable"
        assert props(shared, f"PrivateSubnet{n}Routes")["RouteTableId"] == f"PrivateRouteTable{n}"


def test_shared_nat_serves_both_private_route_tables(shared):
    assert "NatGateway2" not in shared["Resources"]
    assert "NatAddress2" not in shared["Resources"]
    assert props(shared, "PrivateDefaultRoute1")["NatGatewayId"] == "NatGateway1"
    assert props(shared, "PrivateDefaultRoute2")["NatGatewayId"] == "NatGateway1"


def test_nat_per_az_gives_each_private_route_table_its_own():
    stack = render("network.yaml", {"NatGateways": "per-az"})
    assert props(stack, "NatGateway2")["SubnetId"] == "PublicSubnet2"
    assert props(stack, "PrivateDefaultRoute1")["NatGatewayId"] == "NatGateway1"
    assert props(stack, "PrivateDefaultRoute2")["NatGatewayId"] == "NatGateway2"


def test_s3_gateway_endpoint_on_the_private_route_tables(shared):
    endpoint = props(shared, "S3GatewayEndpoint")
    assert endpoint["ServiceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint["RouteTableIds"] == ["PrivateRouteTable1", "PrivateRouteTable2"]


def test_custom_cidr_and_outputs():
    stack = render("network.yaml", {"VpcCidr": "172.20.0.0/20"})
    assert props(stack, "PrivateSubnet2")["CidrBlock"] == "172.20.3.0/24"
    assert set(stack["Outputs"]) == {
        "VpcId",
        "VpcCidr",
        "PublicSubnetIds",
        "PrivateSubnetIds",
        "FlowLogGroupName",
    }


def test_vpc_flow_logs_record_all_traffic_into_a_group_with_retention_by_default():
    stack = render("network.yaml", {"LogRetentionDays": 14})
    flow_log = props(stack, "FlowLog")
    assert flow_log["ResourceType"] == "VPC" and flow_log["ResourceId"] == "Vpc"
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    assert flow_log["LogGroupName"] == "FlowLogGroup"
    assert props(stack, "FlowLogGroup")["RetentionInDays"] == "14"
    assert stack["Outputs"]["FlowLogGroupName"]["Value"] == "FlowLogGroup"


def test_the_flow_log_role_may_only_write_into_that_group_for_this_account(shared):
    role = props(shared, "FlowLogRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    }
    assert statement["Resource"] != "*"
    assert props(shared, "FlowLog")["DeliverLogsPermissionArn"] == "FlowLogRole.Arn"


def test_flow_logs_can_be_turned_off():
    stack = render("network.yaml", {"EnableFlowLogs": "false"})
    assert not {"FlowLog", "FlowLogGroup", "FlowLogRole"} & set(stack["Resources"])
    # (cloud-radar drops an output value that renders to "".)
    assert stack["Outputs"]["FlowLogGroupName"].get("Value", "") == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"VpcCidr": "10.0.0.0/21"},
        {"VpcCidr": "300.0.0.0/16"},
        {"EnableFlowLogs": "yes"},
        {"LogRetentionDays": "42"},
    ],
)
def test_network_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=refused_for(bad)):
        render("network.yaml", bad)
