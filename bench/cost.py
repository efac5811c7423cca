"""What a million requests cost on Fargate, from the server CPU a request took in the bench.

Requests per second per vCPU = 1e6 / server CPU µs per request (a fully busy vCPU serves that many).
A task is run at the stack's autoscaling CPU target, so it serves that share of its capacity.
Prices: AWS Fargate on-demand, Linux, us-east-1 (N. Virginia), read 2026-12-02. x86_64 from
https://aws.amazon.com/fargate/pricing/ (its example: $0.000011244 per vCPU-second, i.e.
$0.04048 per vCPU-hour, and $0.004445 per GB-hour); ARM64 ($0.03238 and $0.00356), which that page
renders only through its calculator, as transcribed at https://www.vantage.sh/blog/fargate-pricing.
"""

import platform

REGION = "us-east-1"
PRICES_READ = "2026-12-02"
X86_64, ARM64 = "x86_64", "arm64"
USD_PER_VCPU_HOUR = {X86_64: 0.04048, ARM64: 0.03238}
USD_PER_GB_HOUR = {X86_64: 0.004445, ARM64: 0.00356}
# The stack's defaults: TaskSize 512/1024 (cloudformation/root.yaml), CpuTargetPercent 60 and
# LatencyP99AlarmSeconds 1 (service.yaml, monitoring.yaml).
TASK_VCPU, TASK_GB, CPU_TARGET, P99_TARGET_MS = 0.5, 1.0, 0.60, 1000
# Only the architecture the bench runs on is measured; the other is given the same requests per
# vCPU (a Graviton vCPU is a whole core, an x86 vCPU a hyperthread, so this errs against ARM64).
ESTIMATE = "same req/s per vCPU assumed"


def this_architecture() -> str:
    return ARM64 if platform.machine().lower() in ("aarch64", "arm64") else X86_64


def per_million(requests_per_vcpu_second: float, architecture: str) -> float:
    """USD per million requests for a task of TASK_VCPU/TASK_GB kept at CPU_TARGET."""
    task_hour = (
        TASK_VCPU * USD_PER_VCPU_HOUR[architecture] + TASK_GB * USD_PER_GB_HOUR[architecture]
    )
    requests_per_task_hour = requests_per_vcpu_second * TASK_VCPU * CPU_TARGET * 3600
    return task_hour / requests_per_task_hour * 1e6
