"""service.yaml rendered with the values the root passes: every promise of the service layer."""

from __future__ import annotations

import runpy

import pytest

from .conftest import (
    CERTIFICATE_ARN,
    CFN_DIR,
    IMAGE_TAG,
    PRIVATE_SUBNETS,
    REPOSITORY_ARN,
    REPOSITORY_URI,
    STACK,
    load,
    refused_for,
    render,
    resources_of_type,
    service_params,
)

# The timings below are defined relative to Gunicorn's, read from gunicorn.conf.py itself.
_GUNICORN = runpy.run_path(str(CFN_DIR.parent / "gunicorn.conf.py"))
GUNICORN_GRACEFUL_TIMEOUT = _GUNICORN["graceful_timeout"]
GUNICORN_KEEPALIVE = _GUNICORN["keepalive"]


@pytest.fixture(scope="module")
def http_stack():
    return render("service.yaml", service_params())


@pytest.fixture(scope="module")
def https_stack():
    return render("service.yaml", service_params(CertificateArn=CERTIFICATE_ARN))


def props(stack, name):
    return stack["Resources"][name]["Properties"]


def container(stack):
    (app,) = props(stack, "TaskDefinition")["ContainerDefinitions"]
    return app


def test_service_runs_two_tasks_with_rolling_deploys_and_circuit_breaker_rollback(http_stack):
    service = props(http_stack, "Service")
    # Two tasks come from the scalable target's minimum (see the next test), not from the service.
    assert props(http_stack, "ScalableTarget")["MinCapacity"] == "2"  # parameters arrive as strings
    assert service["LaunchType"] == "FARGATE"
    deployment = service["DeploymentConfiguration"]
    assert deployment["MinimumHealthyPercent"] == 100
    assert deployment["MaximumPercent"] == 200
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert service["HealthCheckGracePeriodSeconds"] >= 20  # two 10 s ALB checks to turn healthy


def test_releases_do_not_reset_a_scaled_out_service_to_the_desired_count():
    # CloudFormation sends a set DesiredCount with every service update (each release's new task
    # definition), scaling a scaled-out service back in. Unset, ECS keeps the current count on
    # updates; the scalable target's minimum is where the DesiredCount parameter takes effect.
    stack = render("service.yaml", service_params(DesiredCount=3, MaxCount=9))
    assert "DesiredCount" not in props(stack, "Service")
    assert props(stack, "ScalableTarget")["MinCapacity"] == "3"
    source = load("service.yaml")["Resources"]
    assert source["ScalableTarget"]["Properties"]["MinCapacity"] == {"Ref": "DesiredCount"}
    assert "DesiredCount" not in source["Service"]["Properties"]


def test_tasks_run_in_private_subnets_without_public_ip(http_stack):
    network = props(http_stack, "Service")["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["Subnets"] == PRIVATE_SUBNETS.split(",")
    assert network["SecurityGroups"] == ["TaskSecurityGroup"]


def test_container_is_the_released_image_as_non_root_on_read_only_rootfs(http_stack):
    app = container(http_stack)
    assert app["Image"] == f"{REPOSITORY_URI}:{IMAGE_TAG}"
    assert app["User"] == "10001:10001"
    assert app["ReadonlyRootFilesystem"] is True
    assert app["PortMappings"] == [{"ContainerPort": 8000, "Protocol": "tcp"}]
    assert "LinuxParameters" not in app  # no tmpfs: Fargate has none, the contract wants none
    env = {e["Name"]: e.get("Value", "") for e in app["Environment"]}  # cloud-radar drops ""
    # SERVICE_NAME is the Service dimension of the app's metrics, which the alarms select by.
    assert env == {
        "FORWARDED_ALLOW_IPS": "10.0.0.0/16",
        "LOG_LEVEL": "info",
        "SERVICE_NAME": STACK,
        "HSTS_MAX_AGE": "0",
        "CORS_ALLOWED_ORIGINS": "",
    }


def test_container_health_check_gets_health_with_python_not_curl(http_stack):
    check = container(http_stack)["HealthCheck"]
    assert check["Command"][:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8000/health" in check["Command"][3]
    compile(check["Command"][3], "healthcheck", "exec")  # the one-liner is valid Python


def _shutdown_timings(stack: dict) -> dict:
    target_group = props(stack, "TargetGroup")
    attributes = {a["Key"]: a["Value"] for a in target_group["TargetGroupAttributes"]}
    lb_attributes = {
        a["Key"]: a["Value"] for a in props(stack, "LoadBalancer")["LoadBalancerAttributes"]
    }
    return {
        "deregistration": attributes.get("deregistration_delay.timeout_seconds"),
        "stop": container(stack)["StopTimeout"],
        "idle": int(lb_attributes["idle_timeout.timeout_seconds"]),
    }


def test_shutdown_timings_follow_the_order_ecs_stops_a_task(http_stack):
    # ECS first deregisters the task's target and waits for the ALB to drain it (DEACTIVATING),
    # only then sends SIGTERM (STOPPING), and SIGKILL after stopTimeout. Gunicorn has no
    # per-request limit (with gthread `timeout` is the worker heartbeat); the ALB idle timeout
    # bounds a request through it, so a drain longer than that only slows deploys.
    timings = _shutdown_timings(http_stack)
    # Present: without it the ALB default is 300 s.
    assert timings["deregistration"] is not None
    assert 0 < int(timings["deregistration"]) <= timings["idle"] <= 60
    # After SIGTERM Gunicorn has graceful_timeout, which must end before ECS's SIGKILL.
    assert timings["stop"] > GUNICORN_GRACEFUL_TIMEOUT
    # The ALB must close idle keep-alive connections before Gunicorn does (else 502s).
    assert timings["idle"] < GUNICORN_KEEPALIVE


def test_description_states_the_real_shutdown_model(http_stack):
    # The description quotes the timings the template really sets.
    description = " ".join(load("service.yaml")["Description"].split())
    timings = _shutdown_timings(http_stack)
    for phrase in (
        f"deregistration delay {timings['deregistration']} s",
        f"graceful_timeout {GUNICORN_GRACEFUL_TIMEOUT} s < container stopTimeout"
        f" {timings['stop']} s",
        f"idle timeout {timings['idle']} s < Gunicorn keep-alive {GUNICORN_KEEPALIVE} s",
    ):
        assert phrase in description, phrase


def test_logs_are_non_blocking_awslogs_into_a_group_with_retention(http_stack):
    log = container(http_stack)["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["mode"] == "non-blocking"
    assert log["Options"]["awslogs-group"] == "LogGroup"
    assert props(http_stack, "LogGroup") == {
        "LogGroupName": f"/ecs/{STACK}",
        "RetentionInDays": "30",
    }
    custom = render("service.yaml", service_params(LogRetentionDays=7))
    assert props(custom, "LogGroup")["RetentionInDays"] == "7"


def test_the_log_group_goes_with_the_stack_on_delete_and_on_replacement(http_stack):
    # Deliberate: a retained group would keep its fixed name taken and block re-creating the stack.
    log_group = http_stack["Resources"]["LogGroup"]
    assert (log_group["DeletionPolicy"], log_group["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_the_drain_is_described_as_running_in_full():
    # The ALB ends a drain early only with no request in flight and no connection open; its idle
    # keep-alive connections to the task stay open up to the idle timeout, so drains run in full.
    description = " ".join(load("service.yaml")["Description"].split())
    assert "ended early once nothing is in flight" not in description
    assert "no request in flight and no connection open" in description


def alarm_query(alarm: dict, query_id: str) -> dict:
    (query,) = [q for q in alarm["Metrics"] if q["Id"] == query_id]
    return query


def dims(query: dict) -> dict:
    return {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}


def test_app_error_rate_alarm_is_5xx_over_all_requests_of_this_service(http_stack):
    alarm = props(http_stack, "AppErrorRateAlarm")
    assert alarm["AlarmName"] == f"{STACK}-app-5xx-rate"
    requests, errors = alarm_query(alarm, "requests"), alarm_query(alarm, "errors")
    for query in (requests, errors):
        metric = query["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("PredictAPI", "Requests")
        assert query["MetricStat"]["Stat"] == "Sum" and query["ReturnData"] is False
    assert dims(requests) == {"Service": STACK}
    assert dims(errors) == {"Service": STACK, "StatusClass": "5xx"}
    rate = alarm_query(alarm, "rate")
    assert rate["ReturnData"] is True
    assert rate["Expression"] == "IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)"
    assert float(alarm["Threshold"]) == 5 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"  # no traffic is no failure


def test_app_latency_alarm_is_the_p99_of_this_service(http_stack):
    alarm = props(http_stack, "AppLatencyP99Alarm")
    assert alarm["AlarmName"] == f"{STACK}-app-latency-p99"
    p99 = alarm_query(alarm, "p99")
    assert p99["MetricStat"]["Metric"]["MetricName"] == "Latency"
    assert (p99["MetricStat"]["Stat"], p99["MetricStat"]["Unit"]) == ("p99", "Milliseconds")
    assert dims(p99) == {"Service": STACK}
    assert alarm_query(alarm, "latency")["Expression"] == "IF(requests >= 10, p99, 0)"
    assert float(alarm["Threshold"]) == 1000


def test_app_alarm_thresholds_are_parameters():
    stack = render(
        "service.yaml",
        service_params(
            AppErrorRateAlarmPercent=2, AppLatencyP99AlarmMilliseconds=250, AppAlarmMinRequests=50
        ),
    )
    assert props(stack, "AppErrorRateAlarm")["Threshold"] == "2"
    assert props(stack, "AppLatencyP99Alarm")["Threshold"] == "250"
    assert "requests >= 50" in alarm_query(props(stack, "AppErrorRateAlarm"), "rate")["Expression"]


def test_a_release_that_breaks_the_app_alarms_is_rolled_back_by_ecs(http_stack):
    deployment = props(http_stack, "Service")["DeploymentConfiguration"]
    assert deployment["Alarms"] == {
        # Ref of an alarm is its name: the alarms are created before the service.
        "AlarmNames": ["AppErrorRateAlarm", "AppLatencyP99Alarm"],
        "Enable": True,
        "Rollback": True,
    }
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_app_alarms_page_the_alarm_topic_which_this_stack_owns(http_stack):
    for name in ("AppErrorRateAlarm", "AppLatencyP99Alarm"):
        assert props(http_stack, name)["AlarmActions"] == ["AlarmTopic"]
        assert props(http_stack, name)["OKActions"] == ["AlarmTopic"]
    assert http_stack["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert http_stack["Outputs"]["AlarmTopicArn"]["Value"] == "AlarmTopic"
    assert "AlarmEmailSubscription" not in http_stack["Resources"]
    with_email = render("service.yaml", service_params(AlarmEmail="ops@example.com"))
    assert props(with_email, "AlarmEmailSubscription") == {
        "TopicArn": "AlarmTopic",
        "Protocol": "email",
        "Endpoint": "ops@example.com",
    }


@pytest.mark.parametrize(
    ("size", "cpu", "memory"), [("512/1024", "512", "1024"), ("4096/30720", "4096", "30720")]
)
def test_task_size_pairs_become_cpu_and_memory(size, cpu, memory):
    task = props(render("service.yaml", service_params(TaskSize=size)), "TaskDefinition")
    assert (task["Cpu"], task["Memory"]) == (cpu, memory)
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"


def test_cluster_has_container_insights(http_stack):
    settings = props(http_stack, "Cluster")["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


def test_execution_and_task_roles_are_separate_and_minimal(http_stack):
    task = props(http_stack, "TaskDefinition")
    assert task["ExecutionRoleArn"] != task["TaskRoleArn"]
    assert "Policies" not in props(http_stack, "TaskRole")
    assert "ManagedPolicyArns" not in props(http_stack, "TaskRole")
    (policy,) = props(http_stack, "ExecutionRole")["Policies"]
    by_resource = {str(s["Resource"]): s["Action"] for s in policy["PolicyDocument"]["Statement"]}
    assert by_resource["*"] == "ecr:GetAuthorizationToken"
    assert set(by_resource[REPOSITORY_ARN]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    for role in ("TaskRole", "ExecutionRole"):
        assert props(http_stack, role)["Path"] == f"/{STACK}/ecs/"  # what the deploy role may pass


def test_task_security_group_admits_only_the_load_balancer_on_8000(http_stack):
    (rule,) = props(http_stack, "TaskSecurityGroup")["SecurityGroupIngress"]
    assert rule["SourceSecurityGroupId"] == "LoadBalancerSecurityGroup"
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (8000, 8000, "tcp")
    assert "CidrIp" not in rule


def internet_ingress(stack) -> list:
    rules = props(stack, "LoadBalancerSecurityGroup")["SecurityGroupIngress"]
    return sorted((r["FromPort"], r["ToPort"], r["CidrIp"]) for r in rules)


def test_load_balancer_without_certificate_is_open_on_80_only(http_stack):
    lb = props(http_stack, "LoadBalancer")
    assert lb["Scheme"] == "internet-facing"
    assert internet_ingress(http_stack) == [(80, 80, "0.0.0.0/0")]
    (egress,) = props(http_stack, "LoadBalancerSecurityGroup")["SecurityGroupEgress"]
    assert (egress["FromPort"], egress["CidrIp"]) == (8000, "10.0.0.0/16")


def test_load_balancer_with_certificate_is_open_on_80_and_443(https_stack):
    assert internet_ingress(https_stack) == [(80, 80, "0.0.0.0/0"), (443, 443, "0.0.0.0/0")]


def test_target_group_health_check_on_health_every_10s_threshold_2(http_stack):
    target_group = props(http_stack, "TargetGroup")
    assert target_group["TargetType"] == "ip"
    assert target_group["Port"] == 8000
    assert target_group["HealthCheckPath"] == "/health"
    assert target_group["HealthCheckIntervalSeconds"] == 10
    assert target_group["HealthyThresholdCount"] == 2
    assert target_group["Matcher"] == {"HttpCode": "200"}


def test_without_certificate_http_forwards_and_there_is_no_https(http_stack):
    assert "HttpsListener" not in http_stack["Resources"]
    (action,) = props(http_stack, "HttpListener")["DefaultActions"]
    assert action == {"Type": "forward", "TargetGroupArn": "TargetGroup"}
    assert http_stack["Outputs"]["ServiceUrl"]["Value"].startswith("http://")


def test_with_certificate_https_forwards_and_http_redirects(https_stack):
    https = props(https_stack, "HttpsListener")
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE_ARN}]
    assert "TLS13" in https["SslPolicy"]
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": "TargetGroup"}]
    (redirect,) = props(https_stack, "HttpListener")["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }
    assert https_stack["Outputs"]["ServiceUrl"]["Value"].startswith("https://")


def test_service_waits_for_every_listener_that_uses_its_target_group(http_stack, https_stack):
    assert load("service.yaml")["Resources"]["Service"]["DependsOn"] == "ListenersReady"
    assert (
        https_stack["Resources"]["ListenersReady"]["Metadata"]["HttpsListener"] == "HttpsListener"
    )
    assert "HttpsListener" not in http_stack["Resources"]["ListenersReady"].get("Metadata", {})


def test_cpu_autoscaling_keeps_at_least_the_desired_count():
    stack = render("service.yaml", service_params(DesiredCount=3, MaxCount=9))
    target = props(stack, "ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == ("3", "9")
    assert (
        target["ResourceId"] == f"service/Cluster/{'Service.Name'}"
    )  # cloud-radar renders GetAtt as text
    policy = props(stack, "CpuScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )


def test_cluster_service_and_family_are_named_after_the_root_stack(http_stack):
    # The deploy role (github-oidc.yaml) is scoped by these names before the service exists.
    assert props(http_stack, "Cluster")["ClusterName"] == STACK
    assert props(http_stack, "Service")["ServiceName"] == STACK
    assert props(http_stack, "TaskDefinition")["Family"] == STACK


def test_only_one_service_and_one_task_definition(http_stack):
    assert len(resources_of_type(http_stack, "AWS::ECS::Service")) == 1
    assert len(resources_of_type(http_stack, "AWS::ECS::TaskDefinition")) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"ImageTag": ""},  # the service stack exists only with an image
        {"TaskSize": "512/512"},
        {"RepositoryUri": "docker.io/library/python"},
        {"CertificateArn": "arn:aws:iam::123456789012:server-certificate/x"},
        {"MaxCount": "0"},
        {"CpuTargetPercent": "95"},
        {"AlarmEmail": "not-an-address"},
        {"AppLatencyP99AlarmMilliseconds": "0"},
        {"CpuArchitecture": "arm64"},
        {"DomainName": "API.example.com"},
        {"DomainName": "https://api.example.com"},
        {"HostedZoneId": "example.com"},
    ],
)
def test_service_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=refused_for(bad)):
        render("service.yaml", service_params(**bad))


def test_cors_origins_reach_the_container_and_a_malformed_value_is_refused():
    origins = "https://app.example.com,http://localhost:3000"
    stack = render("service.yaml", service_params(CorsAllowedOrigins=origins))
    [container] = stack["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert env["CORS_ALLOWED_ORIGINS"] == origins
    with pytest.raises(ValueError, match="CorsAllowedOrigins"):
        render("service.yaml", service_params(CorsAllowedOrigins="app.example.com"))


DOMAIN = "api.example.com"
ZONE = "Z0123456789ABCDEFGHIJ"


@pytest.fixture(scope="module")
def domain_stack():
    return render("service.yaml", service_params(DomainName=DOMAIN, HostedZoneId=ZONE))


def test_with_a_domain_the_stack_issues_a_certificate_validated_by_dns_in_the_zone(domain_stack):
    certificate = props(domain_stack, "Certificate")
    assert certificate["DomainName"] == DOMAIN
    assert certificate["ValidationMethod"] == "DNS"
    # Naming the zone is what makes CloudFormation write the validation record itself.
    assert certificate["DomainValidationOptions"] == [{"DomainName": DOMAIN, "HostedZoneId": ZONE}]


def test_with_a_domain_the_name_is_an_alias_of_the_load_balancer(domain_stack):
    record = props(domain_stack, "DnsRecord")
    assert (record["HostedZoneId"], record["Name"], record["Type"]) == (ZONE, DOMAIN, "A")
    assert record["AliasTarget"]["DNSName"] == "LoadBalancer.DNSName"
    assert record["AliasTarget"]["HostedZoneId"] == "LoadBalancer.CanonicalHostedZoneID"
    # An IPv4-only load balancer has no AAAA to point at.
    assert props(domain_stack, "LoadBalancer").get("IpAddressType", "ipv4") == "ipv4"
    assert len(resources_of_type(domain_stack, "AWS::Route53::RecordSet")) == 1


def test_with_a_domain_https_serves_that_certificate_and_http_redirects(domain_stack):
    https = props(domain_stack, "HttpsListener")
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"] == [{"CertificateArn": "Certificate"}]
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": "TargetGroup"}]
    (redirect,) = props(domain_stack, "HttpListener")["DefaultActions"]
    assert redirect == {
        "Type": "redirect",
        "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
    }
    assert internet_ingress(domain_stack) == [(80, 80, "0.0.0.0/0"), (443, 443, "0.0.0.0/0")]


@pytest.mark.parametrize("variant", ["domain", "own certificate"])
def test_https_uses_the_tls13_policy_with_post_quantum_key_exchange(
    variant, domain_stack, https_stack
):
    # The policy AWS recommends (ELB docs, "Security policies for your Application Load Balancer"):
    # TLS 1.3 and 1.2, hybrid ML-KEM key exchange for clients that offer it.
    stack = domain_stack if variant == "domain" else https_stack
    assert (
        props(stack, "HttpsListener")["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    )


def test_with_a_domain_hsts_is_on_and_the_outputs_name_the_https_url_and_certificate(domain_stack):
    env = {e["Name"]: e.get("Value", "") for e in container(domain_stack)["Environment"]}
    assert env["HSTS_MAX_AGE"] == "31536000"
    assert domain_stack["Outputs"]["ServiceUrl"]["Value"] == f"https://{DOMAIN}"
    assert domain_stack["Outputs"]["CertificateArn"]["Value"] == "Certificate"


def test_with_an_own_certificate_the_stack_issues_none_and_outputs_that_one(https_stack):
    assert not {"Certificate", "DnsRecord"} & set(https_stack["Resources"])
    assert https_stack["Outputs"]["CertificateArn"]["Value"] == CERTIFICATE_ARN


def test_without_a_domain_or_certificate_it_stays_plain_http_without_hsts(http_stack):
    assert not {"Certificate", "DnsRecord", "HttpsListener"} & set(http_stack["Resources"])
    assert http_stack["Outputs"]["ServiceUrl"]["Value"].startswith("http://")
    # (cloud-radar drops an output value that renders to "".)
    assert http_stack["Outputs"]["CertificateArn"].get("Value", "") == ""


@pytest.mark.parametrize("architecture", ["X86_64", "ARM64"])
def test_the_task_runs_on_the_chosen_cpu_architecture(architecture):
    stack = render("service.yaml", service_params(CpuArchitecture=architecture))
    platform = props(stack, "TaskDefinition")["RuntimePlatform"]
    assert platform == {"OperatingSystemFamily": "LINUX", "CpuArchitecture": architecture}


def test_the_alarm_topic_refuses_publishing_without_tls(http_stack):
    policy = props(http_stack, "AlarmTopicPolicy")
    assert policy["Topics"] == ["AlarmTopic"]
    statements = policy["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and deny["Action"] == "sns:Publish"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_only_this_stacks_alarms_may_publish_to_the_topic_as_cloudwatch(http_stack):
    # The policy replaces the topic's default one, so CloudWatch needs its own Allow; the monitoring
    # stack's alarms are named RootStackName-* as well.
    statements = props(http_stack, "AlarmTopicPolicy")["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    source = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    assert source == f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{STACK}-*"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    for alarm in resources_of_type(http_stack, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmName"].startswith(f"{STACK}-")
