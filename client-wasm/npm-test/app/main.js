// A user's Vite app: the package from npm, imported by name, bundled by Vite.
import init, { connect, deriveKey, generateKey, keyFingerprint } from "fastport-wasm";
import * as fastport from "fastport-wasm";
import { run } from "./check.js";

// The named imports fail the build if the package stops exporting them.
run(init, { ...fastport, connect, deriveKey, generateKey, keyFingerprint }, "vite");
