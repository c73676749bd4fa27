// Compiled with `tsc --noEmit --strict` against the installed package by
// scripts/test-npm-package.sh: the package's types are precise (no `any` for options,
// results or events), and mistakes are type errors.
import init, { connect, generateKey, Client, Message } from "fastport-wasm";

export async function typed(): Promise<void> {
  await init();
  const client: Client = await connect({
    url: "ws://127.0.0.1:8080/ws",
    session: "demo",
    password: "demo",
    key: generateKey(),
    backoff: { initialMs: 100, maxAttempts: 3 },
  });
  client.on("receipt", (r) => {
    const delivered: number = r.delivered;
    if (r.status === "delivered") console.log(delivered);
  });
  client.on("state", (s) => {
    if (s.state === "reconnecting") console.log(s.inMs, s.error?.code);
  });
  client.on("presence", (p) => p.members.forEach((m) => console.log(m.displayName)));
  client.on("deliveryRejected", (e) => console.log(e.code, e.envelope.length));
  await client.subscribe("chat/+", (m: Message) => console.log(m.text(), m.envelope));
  const sent = await client.publish("chat/lobby", { text: "hi" }, { qos: 1 });
  const id: number = sent.id;
  console.log(id);

  // @ts-expect-error: an unknown event
  client.on("mesage", () => {});
  // @ts-expect-error: a listener of the wrong event type
  client.on("receipt", (r: Message) => console.log(r));
  // @ts-expect-error: QoS 2 does not exist
  await client.publish("t", "x", { qos: 2 });
  // @ts-expect-error: a misspelt option
  await connect({ url: "", session: "", password: "", clientID: "x" });
}
