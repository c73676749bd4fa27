// The package in a module Web Worker (no window, no document): the same check as the pages.
import init, * as fastport from "./package/fastport_wasm.js";
import { check } from "./check.js";

const url = new URLSearchParams(location.search).get("url");
check(init, fastport, "worker", url).then((result) => postMessage(result));
