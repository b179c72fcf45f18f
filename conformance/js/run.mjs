// Plays conformance/scenarios.json against the emulator at
// $CONCORD_EMULATOR_URL through the official AWS SDK for JavaScript v3 and
// prints what it saw as a JSON transcript (internal/conformance compares it
// with the Go SDK's and boto3's).
//
// The SDK drops response members its model does not know, so each raw HTTP
// body is also read (a middleware between the transport and the
// deserializer) and checked member by member against the client's own
// schema (the v3 clients ship their service model as schemas, exported as
// `<Shape>$`): an unknown member, a value of the wrong JSON type or an
// error code with no modelled class is reported in "unknown".
import { readFileSync } from "node:fs";
import { NormalizedSchema } from "@smithy/core/schema";
import * as metering from "@aws-sdk/client-marketplace-metering";
import * as entitlement from "@aws-sdk/client-marketplace-entitlement-service";
import * as agreement from "@aws-sdk/client-marketplace-agreement";
import * as catalog from "@aws-sdk/client-marketplace-catalog";

const endpoint = process.env.CONCORD_EMULATOR_URL;
if (!endpoint) throw new Error("CONCORD_EMULATOR_URL is not set");
const suite = JSON.parse(readFileSync(process.argv[2], "utf8"));

const services = {
  metering: { mod: metering, Client: metering.MarketplaceMeteringClient, Base: metering.MarketplaceMeteringServiceException },
  entitlement: { mod: entitlement, Client: entitlement.MarketplaceEntitlementServiceClient, Base: entitlement.MarketplaceEntitlementServiceServiceException },
  agreement: { mod: agreement, Client: agreement.MarketplaceAgreementClient, Base: agreement.MarketplaceAgreementServiceException },
  catalog: { mod: catalog, Client: catalog.MarketplaceCatalogClient, Base: catalog.MarketplaceCatalogServiceException },
};

let lastBody = null; // the raw body of the last response
for (const svc of Object.values(services)) {
  svc.client = new svc.Client({
    endpoint, region: "us-east-1", maxAttempts: 1,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  });
  svc.client.middlewareStack.add((next) => async (args) => {
    const res = await next(args);
    const chunks = [];
    for await (const c of res.response.body) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
    const buf = Buffer.concat(chunks);
    lastBody = buf.toString("utf8");
    res.response.body = new Uint8Array(buf);
    return res;
  }, { step: "deserialize", priority: "low", name: "conformanceRawBody" });
}

const lowerFirst = (s) => s.charAt(0).toLowerCase() + s.slice(1);

// norm is the normalised answer every runner prints: keys with a lower-case
// first letter, timestamps as ISO 8601 with milliseconds, no nulls or "".
function norm(v) {
  if (v === null || v === undefined || v === "") return undefined;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((e) => norm(e) ?? null);
  if (typeof v === "object") {
    const out = {};
    for (const [k, e] of Object.entries(v)) {
      if (k === "$metadata") continue;
      const n = norm(e);
      if (n !== undefined) out[lowerFirst(k)] = n;
    }
    return out;
  }
  return v;
}

function lookup(path, seen) {
  const [first, ...rest] = path.split(".");
  if (!(first in seen)) throw new Error(`reference \${${path}}: no answer from step ${first}`);
  let v = seen[first];
  for (const p of rest) {
    if (v === null || typeof v !== "object" || !(p in v)) throw new Error(`reference \${${path}}: no member ${p}`);
    v = v[p];
  }
  return v;
}

// resolve substitutes ${step.path} references and turns {"$time": …} into a Date.
function resolve(v, seen) {
  if (typeof v === "string") {
    const whole = v.match(/^\$\{([^}]+)\}$/);
    if (whole) return lookup(whole[1], seen);
    return v.replace(/\$\{([^}]+)\}/g, (_, p) => String(lookup(p, seen)));
  }
  if (Array.isArray(v)) return v.map((e) => resolve(e, seen));
  if (v && typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$time") return new Date(v.$time);
    return Object.fromEntries(keys.map((k) => [k, resolve(v[k], seen)]));
  }
  return v;
}

// check walks a decoded JSON body along a schema and reports what the schema lacks.
function check(value, schema, path, problems) {
  const ns = NormalizedSchema.of(schema);
  if (value === null) return;
  if (ns.isDocumentSchema()) return;
  if (ns.isStructSchema()) {
    if (typeof value !== "object" || Array.isArray(value)) return problems.push(`${path}: ${JSON.stringify(value)} is not a structure`);
    const members = {};
    for (const [name, m] of ns.structIterator()) {
      const traits = m.getMergedTraits();
      if (traits.httpHeader || traits.httpResponseCode || traits.httpQuery || traits.httpLabel) continue;
      members[traits.jsonName ?? name] = m;
    }
    for (const [k, v] of Object.entries(value)) {
      if (!(k in members)) problems.push(`${path}.${k}: no such member in ${ns.getName() ?? "the shape"}`);
      else check(v, members[k], `${path}.${k}`, problems);
    }
    return;
  }
  if (ns.isListSchema()) {
    if (!Array.isArray(value)) return problems.push(`${path}: ${JSON.stringify(value)} is not a list`);
    value.forEach((e, i) => check(e, ns.getValueSchema(), `${path}.${i}`, problems));
    return;
  }
  if (ns.isMapSchema()) {
    if (typeof value !== "object" || Array.isArray(value)) return problems.push(`${path}: ${JSON.stringify(value)} is not a map`);
    for (const [k, v] of Object.entries(value)) check(v, ns.getValueSchema(), `${path}.${k}`, problems);
    return;
  }
  const want = ns.isStringSchema() ? "string" : ns.isBooleanSchema() ? "boolean" : ns.isNumericSchema() ? "number"
    : ns.isTimestampSchema() ? (typeof value === "string" ? "string" : "number") : ns.isBlobSchema() ? "string" : null;
  if (want && typeof value !== want) problems.push(`${path}: ${JSON.stringify(value)} is not a ${want}`);
}

async function control(method, path, body) {
  const res = await fetch(endpoint + path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return norm(JSON.parse(text));
}

const seen = {};
const steps = [];
for (const st of suite.steps) {
  const r = { name: st.name };
  if (st.control) {
    r.output = await control(st.control.method, st.control.path, resolve(st.control.body, seen));
  } else {
    const svc = services[st.service];
    const Command = svc.mod[`${st.op}Command`];
    const opSchema = svc.mod[`${st.op}$`];
    if (!Command || !opSchema) throw new Error(`step ${st.name}: ${st.service} has no operation ${st.op}`);
    const problems = [];
    lastBody = null;
    try {
      const out = await svc.client.send(new Command(resolve(st.input ?? {}, seen)));
      r.output = norm(out) ?? {};
      if (lastBody) check(JSON.parse(lastBody), opSchema[5], "output", problems);
    } catch (err) {
      if (!err.$metadata) throw err;
      const modelled = err.constructor !== svc.Base && typeof svc.mod[err.name] === "function";
      r.error = { code: err.name, message: err.message, status: err.$metadata.httpStatusCode, modelled };
      const errSchema = svc.mod[`${err.name}$`];
      if (lastBody && errSchema) {
        const body = JSON.parse(lastBody);
        delete body.__type; // the protocol's error discriminator, not a member
        delete body.code;
        check(body, errSchema, `error ${err.name}`, problems);
      }
    }
    if (problems.length) r.unknown = problems;
  }
  if (r.output) seen[st.name] = r.output;
  steps.push(r);
}
const version = JSON.parse(readFileSync(new URL("./node_modules/@aws-sdk/client-marketplace-metering/package.json", import.meta.url))).version;
process.stdout.write(JSON.stringify({ sdk: `aws-sdk-js-v3 ${version} (node ${process.version})`, steps }) + "\n");
