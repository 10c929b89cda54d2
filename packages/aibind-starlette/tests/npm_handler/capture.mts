// Captures the npm @aibind/core StreamHandler's HTTP responses for a fixed mock model.
// PuruVJ/aibind commit 62b0f58a6723f5820f1eaeedf18ffe5a66371ff0, ai@6.0.326, run with tsx@4.23.15 on Node 20 (see README.md).
import { MockLanguageModelV3, simulateReadableStream } from "ai/test";
import { StreamHandler } from "../packages/core/src/stream-handler";
import { MemoryStreamStore } from "../packages/core/src/memory-store";
import { MemoryConversationStore } from "../packages/core/src/memory-conversation-store";

const DELTAS = ["Hello", " wor\nld", "!"];

function mockModel(deltas: string[] = DELTAS) {
  return new MockLanguageModelV3({
    doStream: async () => ({
      stream: simulateReadableStream({
        chunks: [
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t" },
          ...deltas.map((d) => ({ type: "text-delta", id: "t", delta: d })),
          { type: "text-end", id: "t" },
          {
            type: "finish",
            finishReason: { unified: "stop", raw: "stop" },
            usage: {
              inputTokens: { total: 3, noCache: 3, cacheRead: 0, cacheWrite: 0 },
              outputTokens: { total: 5, text: 5, reasoning: 0 },
            },
          },
        ] as any,
      }),
    }),
    doGenerate: async () => ({
      content: [{ type: "text", text: "A short summary." }],
      finishReason: { unified: "stop", raw: "stop" },
      usage: {
        inputTokens: { total: 40, noCache: 40, cacheRead: 0, cacheWrite: 0 },
        outputTokens: { total: 4, text: 4, reasoning: 0 },
      },
      warnings: [],
    }) as any,
  });
}

async function record(handler: StreamHandler, method: string, path: string, body?: unknown, raw?: string) {
  const init: RequestInit = { method };
  if (body !== undefined || raw !== undefined) {
    init.body = raw ?? JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  let res: Response;
  try {
    res = await handler.handle(new Request(`http://localhost${path}`, init));
  } catch (e) {
    return { method, path, body: body ?? raw, thrown: String(e) };
  }
  const text = await res.text();
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { method, path, request: body ?? raw ?? null, status: res.status, headers, body: text };
}

const out: any = {};
const store = new MemoryStreamStore();
const conversations = new MemoryConversationStore();
const handler = new StreamHandler({
  models: { fast: mockModel(), other: mockModel(["x"]) },
  resumable: true,
  store,
  conversation: { store: conversations },
});

const first = await record(handler, "POST", "/__aibind__/stream", { prompt: "hi", sessionId: "s1" });
out.stream = first;
const id = first.headers["x-stream-id"];
out.resume = [];
for (const after of [0, 1, 2, 3, 4]) {
  out.resume.push(await record(handler, "GET", `/__aibind__/stream/resume?id=${id}&after=${after}`));
}
out.second_turn = await record(handler, "POST", "/__aibind__/stream", { prompt: "again", sessionId: "s1" });
await new Promise((r) => setTimeout(r, 50));
out.conversation_after_two_turns = (await conversations.load("s1")).messages;
out.stop = await record(handler, "POST", "/__aibind__/stream/stop", { id });
out.stop_unknown = await record(handler, "POST", "/__aibind__/stream/stop", { id: "nope" });
out.resume_unknown = await record(handler, "GET", "/__aibind__/stream/resume?id=nope&after=0");
out.chat = await record(handler, "POST", "/__aibind__/chat", { messages: [{ role: "user", content: "hi" }] });
out.compact = await record(handler, "POST", "/__aibind__/compact", {
  messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "Hello world!" }],
  sessionId: "s1",
});
out.conversation_after_compact = JSON.parse((await conversations.load("s1")).toJSON());
out.errors = [
  await record(handler, "POST", "/__aibind__/stream", {}),
  await record(handler, "POST", "/__aibind__/stream", { prompt: "   " }),
  await record(handler, "POST", "/__aibind__/stream", { prompt: "hi", model: "nope" }),
  await record(handler, "POST", "/__aibind__/stream/stop", {}),
  await record(handler, "GET", "/__aibind__/stream/resume"),
  await record(handler, "GET", "/__aibind__/stream/resume?after=3"),
  await record(handler, "POST", "/__aibind__/chat", { messages: [] }),
  await record(handler, "POST", "/__aibind__/chat", {}),
  await record(handler, "POST", "/__aibind__/compact", {}),
  await record(handler, "POST", "/__aibind__/complete", {}),
  await record(handler, "POST", "/__aibind__/title", {}),
  await record(handler, "GET", "/__aibind__/nothing"),
  await record(handler, "GET", "/__aibind__/stream"),
  await record(handler, "POST", "/__aibind__/stream", undefined, "{not json"),
];
const plain = new StreamHandler({ model: mockModel() });
out.non_resumable = {
  stream: await record(plain, "POST", "/__aibind__/stream", { prompt: "hi" }),
  stop: await record(plain, "POST", "/__aibind__/stream/stop", { id: "x" }),
  resume: await record(plain, "GET", "/__aibind__/stream/resume?id=x&after=0"),
  resume_method: await plain.resume(new URL("http://localhost/__aibind__/stream/resume?id=x")).text(),
};
out.complete = await record(plain, "POST", "/__aibind__/complete", { input: "Once upon" });
console.log(JSON.stringify(out, null, 2));
process.exit(0); // the memory stores keep TTL timers alive
