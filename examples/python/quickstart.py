"""Drives `concord emulator` the way an ISV's integration test would, through
boto3: a buyer accepts a private offer, the SaaS resolves the registration
token, meters usage and reads the outcome, and checks the buyer's entitlement.

    concord emulator --addr 127.0.0.1:8090 --world examples/world.json &
    AWS_ENDPOINT_URL=http://127.0.0.1:8090 AWS_DEFAULT_REGION=us-east-1 \
      AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test python3 examples/python/quickstart.py

boto3 reads AWS_ENDPOINT_URL itself from botocore 1.31 on; endpoint_url is
passed explicitly so older ones work too. Metering by LicenseArn needs a
botocore whose model has it (2025 on); with an older one (Debian bookworm's
1.29) set AWS_DATA_PATH=conformance/python/models, as the test suite does.
"""

import datetime
import json
import os
import urllib.request

import boto3

EMULATOR = os.environ["AWS_ENDPOINT_URL"]


def control(method, path, body=None):
    """Calls the emulator's control API (JSON over HTTP, not AWS): it plays the buyer."""
    req = urllib.request.Request(EMULATOR + path, method=method, data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as res:
        return json.load(res)


metering = boto3.client("meteringmarketplace", endpoint_url=EMULATOR)
entitlements = boto3.client("marketplace-entitlement", endpoint_url=EMULATOR)

# 1. The buyer accepts the private offer of the world file.
offer = next(o for o in control("GET", "/control/offers") if o["name"] == "Acme, 20 seats for a year")
agreement = control("POST", "/control/accept", {"buyer": "777788889999", "offerId": offer["offerId"]})
print("accepted:", agreement["agreementId"])

# 2. AWS sends the buyer to the fulfillment URL with a token; resolve it.
token = control("POST", "/control/tokens", {"agreementId": agreement["agreementId"]})["token"]
customer = metering.resolve_customer(RegistrationToken=token)
print("resolved:", customer["CustomerAWSAccountId"], customer["ProductCode"], customer["LicenseArn"] == agreement["licenseArn"])

# 3. Meter usage and read the outcome.
out = metering.batch_meter_usage(UsageRecords=[{
    "CustomerAWSAccountId": customer["CustomerAWSAccountId"], "LicenseArn": customer["LicenseArn"],
    "Dimension": "api_calls", "Quantity": 42, "Timestamp": datetime.datetime.now(datetime.timezone.utc)}])
for r in out["Results"]:
    print("metered:", r["Status"], r["UsageRecord"]["Quantity"])
print("unprocessed:", len(out["UnprocessedRecords"]))

# 4. What did the buyer buy? An empty answer has no "Entitlements" (as AWS answers): use .get.
ents = entitlements.get_entitlements(ProductCode=customer["ProductCode"], Filter={"LICENSE_ARN": [customer["LicenseArn"]]})
for e in ents.get("Entitlements", []):
    print("entitled:", e["Dimension"], e["Value"]["IntegerValue"])
