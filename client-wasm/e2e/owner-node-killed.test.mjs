// Two real fastport-server nodes on one real Redis, the browser SDK in Chromium. Node A serves
// session `team`; the writer is connected to A (`url: [A, B]`), the reader to B
// (`url: [B, A]`), which relays it to A. A is killed (SIGKILL) during a burst of QoS 1
// publishes. The writer moves to B by itself, the reader's relayed connection is closed with
// `session_moved` (4029) and it reconnects; B takes the session over once A's registration
// lapses; both resume there, the reader re-subscribes, the writer resends what A had not
// acknowledged and sends what was published while no node had it. The application sees every
// message once and in order (failoverScenario in harness.mjs).

import assert from "node:assert/strict";
import { test } from "node:test";
import { failoverScenario, failedConnectionTo, twoNodes } from "./harness.mjs";

test(
  "when the node serving the session is killed the SDK moves to the other node, which takes " +
    "the session over, and nothing acknowledged is lost or seen twice",
  { timeout: 120_000 },
  async (t) => {
    const env = await twoNodes(t, "owner-node-killed");
    const { a, b } = env;
    assert.equal(env.owner(), "node-a");
    await env.connect("writer", [a.url, b.url]);
    await env.connect("reader", [b.url, a.url]);
    await env.subscribe("reader", "news");
    assert.equal(await b.metric("fastport_cluster_relayed_connections"), 1, "the reader via B");

    const { end } = await failoverScenario(env, a);

    // The reader's relay was closed with session_moved; B took the session over and serves
    // both clients itself.
    const moved = end.r.states.find((s) => s.state === "reconnecting");
    assert.equal(moved?.code, "session_moved", JSON.stringify(end.r.states));
    assert.equal(env.owner(), "node-b");
    assert.equal(await b.metric("fastport_cluster_takeovers_total"), 1);
    assert.equal(await b.metric("fastport_cluster_relayed_connections"), 0);
    const unexpected = env.errors.filter((e) => !failedConnectionTo(a).test(e));
    assert.deepEqual(unexpected, [], "no console error but failed connections to A");
  },
);
