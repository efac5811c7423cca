"""moto_server playing an AWS account that has never used ECS: CreateCluster (directly or from a
CloudFormation stack) fails while the ECS service-linked role does not exist, as reported in
aws-cloudformation/cloudformation-coverage-roadmap#818 ("Unable to assume the service linked role.
Please verify that the ECS service linked role exists."; a second attempt, once ECS created the
role, succeeds). Run as `python fresh_account_moto.py PORT`."""

from __future__ import annotations

import sys

from moto.ecs import models as ecs_models
from moto.ecs.exceptions import InvalidParameterException
from moto.iam.models import iam_backends
from moto.server import main

ECS_ROLE_PATH = "/aws-service-role/ecs.amazonaws.com/"
MESSAGE = (
    "Unable to assume the service linked role. Please verify that the ECS service linked role "
    "exists."
)
_create_cluster = ecs_models.EC2ContainerServiceBackend.create_cluster


def create_cluster(self, *args, **kwargs):
    roles = iam_backends[self.account_id]["aws"].roles.values()
    if not any(role.path == ECS_ROLE_PATH for role in roles):
        raise InvalidParameterException(MESSAGE)
    return _create_cluster(self, *args, **kwargs)


ecs_models.EC2ContainerServiceBackend.create_cluster = create_cluster

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
