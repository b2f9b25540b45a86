// A third-party MCP client: the official TypeScript SDK, sending the attestation in
// `capabilities.experimental["security.attestation"]` natively, as SPEC.md §9.3 describes.
//
// Usage: node ts_client.mjs <server-url> [token]
// Prints one JSON line: {"ok": true, "text": "..."} after calling `whoami`, or
// {"ok": false, "code": <code>, "reason": "<data.reason>"} when the server refuses.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token] = process.argv.slice(2);
const experimental = token
  ? {
      "security.attestation": {
        version: "0.1.0",
        token,
        supported_algorithms: ["EdDSA"],
        attestation_types: ["provider", "enterprise"],
      },
    }
  : {};
const client = new Client({ name: "ts-sdk-agent", version: "1.0.0" }, { capabilities: { experimental } });
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const result = await client.callTool({ name: "whoami", arguments: {} });
  const text = result.content.map((c) => c.text ?? "").join("");
  console.log(JSON.stringify({ ok: true, text }));
  await client.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code ?? null, reason: e.data?.reason ?? null, message: String(e.message) }));
}
process.exit(0);
