"""The deployer behind scripts/release.sh: rolls the CloudFormation stack to a new image tag.

CloudFormation is the only deployer: a release changes the root stack's ImageTag parameter through a
change set (every other parameter keeps its previous value) and CloudFormation updates the task
definition and the ECS service. So an infrastructure deploy and a release can never undo each other,
and a failed rollout is rolled back by the circuit breaker and the stack together.
"""
