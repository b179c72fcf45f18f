// Drives `concord emulator` the way an ISV's integration test would, through
// the AWS SDK for JavaScript v3: a buyer accepts a private offer, the SaaS
// resolves the registration token, meters usage and reads the outcome, and
// checks the buyer's entitlement.
//
//   concord emulator --addr 127.0.0.1:8090 --world examples/world.json &
//   (cd examples/js && npm ci)
//   AWS_ENDPOINT_URL=http://127.0.0.1:8090 AWS_REGION=us-east-1 \
//     AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test node examples/js/quickstart.mjs
//
// The v3 clients read AWS_ENDPOINT_URL, AWS_REGION and the credentials themselves.
import { MarketplaceMeteringClient, ResolveCustomerCommand, BatchMeterUsageCommand } from "@aws-sdk/client-marketplace-metering";
import { MarketplaceEntitlementServiceClient, GetEntitlementsCommand } from "@aws-sdk/client-marketplace-entitlement-service";

const emulator = process.env.AWS_ENDPOINT_URL;

// control calls the emulator's control API (JSON over HTTP, not AWS): it plays the buyer.
async function control(method, path, body) {
  const res = await fetch(emulator + path, { method, headers: { "content-type": "application/json" }, body: body && JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const metering = new MarketplaceMeteringClient({});
const entitlements = new MarketplaceEntitlementServiceClient({});

// 1. The buyer accepts the private offer of the world file.
const offer = (await control("GET", "/control/offers")).find((o) => o.name === "Acme, 20 seats for a year");
const agreement = await control("POST", "/control/accept", { buyer: "777788889999", offerId: offer.offerId });
console.log("accepted:", agreement.agreementId);

// 2. AWS sends the buyer to the fulfillment URL with a token; resolve it.
const { token } = await control("POST", "/control/tokens", { agreementId: agreement.agreementId });
const customer = await metering.send(new ResolveCustomerCommand({ RegistrationToken: token }));
console.log("resolved:", customer.CustomerAWSAccountId, customer.ProductCode, customer.LicenseArn === agreement.licenseArn);

// 3. Meter usage by license (Concurrent Agreements) and read the outcome.
const out = await metering.send(new BatchMeterUsageCommand({ UsageRecords: [{
  CustomerAWSAccountId: customer.CustomerAWSAccountId, LicenseArn: customer.LicenseArn,
  Dimension: "api_calls", Quantity: 42, Timestamp: new Date(),
}] }));
for (const r of out.Results) console.log("metered:", r.Status, r.UsageRecord.Quantity);
console.log("unprocessed:", out.UnprocessedRecords.length);

// 4. What did the buyer buy? An empty answer has no Entitlements (as AWS answers).
const ents = await entitlements.send(new GetEntitlementsCommand({ ProductCode: customer.ProductCode, Filter: { LICENSE_ARN: [customer.LicenseArn] } }));
for (const e of ents.Entitlements ?? []) console.log("entitled:", e.Dimension, e.Value.IntegerValue);
