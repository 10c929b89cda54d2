// The local Cloudflare REST stand-in as a process: starts Miniflare on a free port of
// 127.0.0.1, prints one JSON line {"base_url", "account_id", "database_id", "namespace_id",
// "token"} on stdout, and runs until its stdin closes or it gets SIGTERM/SIGINT, then disposes
// Miniflare (which stops workerd) and exits 0.

import { IDS, startMiniflare } from "./miniflare-env.mjs";

const token = process.env.AIBIND_CF_TOKEN || "aibind-test-token";
const { mf, url } = await startMiniflare({ port: Number(process.env.AIBIND_CF_PORT || 0), token });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await mf.dispose();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();

process.stdout.write(
  JSON.stringify({
    base_url: `${url}/client/v4`,
    account_id: IDS.ACCOUNT_ID,
    database_id: IDS.DATABASE_ID,
    namespace_id: IDS.KV_NAMESPACE_ID,
    token,
  }) + "\n",
);
