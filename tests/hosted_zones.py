"""Route 53 hosted zones in moto that look like AWS's."""

from __future__ import annotations

import boto3


def hosted_zone(name: str, private: bool = False) -> str:
    """A zone whose ID looks like AWS's: Z, then capitals and digits (the pattern of
    CloudFormation's AWS::CertificateManager HostedZoneId, Z[A-Z0-9]+). moto 5.2 draws 22 random
    capitals and digits without the Z: zones are drawn until one fits, the others deleted."""
    route53 = boto3.client("route53")
    config = {"Comment": "test", "PrivateZone": private}
    for attempt in range(1000):
        zone_id = route53.create_hosted_zone(
            Name=name, CallerReference=f"{name}-{attempt}", HostedZoneConfig=config
        )["HostedZone"]["Id"].removeprefix("/hostedzone/")
        if zone_id.startswith("Z"):
            return zone_id
        route53.delete_hosted_zone(Id=zone_id)
    raise AssertionError("moto drew no zone ID starting with Z")
