// Builds the real protobuf descriptor set (with imports and source info) that both
// the gRPC services and server reflection load, so strict clients (grpcurl,
// `buf curl`) see true file names and dependencies (LAB.md: grpc-node issue 2595).
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const buf = join(dirname(require.resolve("@bufbuild/buf/package.json")), "bin", "buf");
mkdirSync(join(root, "dist", "proto"), { recursive: true });
const build = (input, output) =>
  execFileSync(buf, ["build", ...input, "--as-file-descriptor-set", "-o", join(root, "dist", "proto", output)], {
    cwd: root,
    stdio: "inherit",
  });
build([], "vigil.binpb");
// grpc.health.v1 comes from the grpc-health-check library that serves it; its
// descriptor is built here so that reflection can describe Health too.
build([join(dirname(require.resolve("grpc-health-check/package.json")), "proto")], "health.binpb");
