import assert from "node:assert/strict";
import { test } from "node:test";
import { setup } from "./harness.mjs";

test(
  "the member list shows who is in the room and updates when a tab closes",
  { timeout: 150_000 },
  async (t) => {
    const env = await setup(t, "presence");
    const ada = await env.join("Ada");
    const bo = await env.join("Bo");
    await ada.waitForMembers(["Ada", "Bo"]);
    await bo.waitForMembers(["Ada", "Bo"]);
    assert.equal(await ada.page.locator("#member-count").innerText(), "(2)");
    await ada.page.locator("li.system", { hasText: "Bo joined" }).waitFor();

    // Closing the tab: the page closes its client on `pagehide`, the server tells the others.
    const closed = Date.now();
    await bo.page.close({ runBeforeUnload: true });
    await ada.waitForMembers(["Ada"]);
    await ada.page.locator("li.system", { hasText: "Bo left" }).waitFor();
    const took = Date.now() - closed;
    assert.ok(took < 5000, `the leave took ${took} ms: noticed by keepalive, not by the close`);

    const cy = await env.join("Cy");
    await ada.waitForMembers(["Ada", "Cy"]);
    await cy.waitForMembers(["Ada", "Cy"]);
    env.assertNoConsoleErrors();
  },
);
