"use strict";
// Reads JSON Lines (the file named by the first argument) and constructs
// each line as a CloudEvent with the official SDK in strict mode; exits 1
// at the first line it refuses. Used by the audit package's tests.
const fs = require("fs");
const readline = require("readline");
const { CloudEvent } = require("cloudevents");

async function main() {
  const input = readline.createInterface({ input: fs.createReadStream(process.argv[2]), crlfDelay: Infinity });
  let n = 0;
  for await (const line of input) {
    n++;
    try {
      const obj = JSON.parse(line);
      const ev = new CloudEvent(obj, true);
      if (typeof ev.jfsequence !== "string" || typeof ev.jfrecordedat !== "string") {
        throw new Error("jfsequence and jfrecordedat must be strings");
      }
    } catch (e) {
      const more = e.errors ? " " + JSON.stringify(e.errors) : "";
      console.error(`line ${n}: ${e.message}${more}`);
      process.exit(1);
    }
  }
  console.log(`${n} lines are strict CloudEvents`);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
