// Two real fastport-server nodes on one real Redis, the browser SDK in Chromium. Node A serves
// session `team`; the writer and the reader are both connected to B (`url: [B, A]`), which
// relays them to A. B is killed (SIGKILL) during a burst of QoS 1 publishes. Both clients move
// to A by themselves, where the session was served all along (no takeover): the reader
// resumes and re-subscribes, A delivers again what was lost with B, and the writer resends
// what was not acknowledged. The application sees every message once and in order
// (failoverScenario in harness.mjs).

import assert from "node:assert/strict";
import { test } from "node:test";
import { failoverScenario, failedConnectionTo, twoNodes } from "./harness.mjs";

test(
  "when the node relaying the SDK to its session is killed the SDK moves to the node serving " +
    "it, and nothing acknowledged is lost or seen twice",
  { timeout: 120_000 },
  async (t) => {
    const env = await twoNodes(t, "relaying-node-killed");
    const { a, b } = env;
    await env.connect("writer", [b.url, a.url]);
    await env.connect("reader", [b.url, a.url]);
    await env.subscribe("reader", "news");
    assert.equal(await b.metric("fastport_cluster_relayed_connections"), 2, "both via B");

    await failoverScenario(env, b);

    // A served the session all along: nobody took it over.
    assert.equal(env.owner(), "node-a");
    assert.equal(await a.metric("fastport_cluster_takeovers_total"), 0);
    const unexpected = env.errors.filter((e) => !failedConnectionTo(b).test(e));
    assert.deepEqual(unexpected, [], "no console error but failed connections to B");
  },
);
