// Proves each fault-proxy mode on a real loopback echo server (pass, latency, blackhole then heal,
// drop-new, reset), that the proxy names the process that opened a connection, and that its close
// ends even while a source holds a half-open connection (a chaos run once hung there).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { waitFor } from "../support/wait.js";
import { FaultProxy } from "./fault-proxy.js";
import { connectingProcess, orphanedConnection } from "./socket-owner.js";

function echoServer(): Promise<{ server: Server; sockets: Set<Socket>; address: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, sockets, address: `127.0.0.1:${(server.address() as { port: number }).port}` })));
}

interface Client {
  socket: Socket;
  received(): string;
  closed(): { closed: boolean; error: string | null };
}

function client(address: string): Promise<Client> {
  const [host, port] = address.split(":");
  const socket = connect({ host: host!, port: Number(port) });
  let received = "";
  let closed = false;
  let error: string | null = null;
  socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
  socket.on("error", (problem: NodeJS.ErrnoException) => (error = problem.code ?? problem.message));
  socket.on("close", () => (closed = true));
  const handle = { socket, received: () => received, closed: () => ({ closed, error }) };
  // A connection the proxy resets at once may close before Node reports it connected.
  return new Promise((resolve) => {
    socket.on("connect", () => resolve(handle));
    socket.on("close", () => resolve(handle));
  });
}

describe("fault proxy", () => {
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let proxy: FaultProxy;
  before(async () => {
    echo = await echoServer();
    proxy = new FaultProxy({ name: "echo", identify: () => "a" });
    await proxy.listen();
    proxy.setTarget(echo.address);
  });
  after(async () => {
    await proxy.close();
    for (const socket of echo.sockets) socket.destroy();
    await new Promise((resolve) => echo.server.close(resolve));
  });

  it("passes bytes both ways", async () => {
    const peer = await client(proxy.address);
    peer.socket.write("hello");
    await waitFor(() => peer.received() === "hello", { timeoutMs: 5_000, what: "the echo" });
    peer.socket.destroy();
  });

  it("delays every chunk by the link's latency, in order", async () => {
    proxy.setMode("a", { kind: "latency", delayMs: 300 });
    const peer = await client(proxy.address);
    const startMs = performance.now();
    peer.socket.write("one,");
    peer.socket.write("two");
    await waitFor(() => peer.received() === "one,two", { timeoutMs: 5_000, what: "the delayed echo" });
    // Both directions are delayed: at least twice the latency for a round trip.
    assert.ok(performance.now() - startMs >= 590, `round trip took ${performance.now() - startMs} ms`);
    proxy.setMode("a", { kind: "pass" });
    peer.socket.destroy();
  });

  it("holds data in a blackhole and delivers it once healed", async () => {
    const peer = await client(proxy.address);
    proxy.setMode("a", { kind: "blackhole" });
    peer.socket.write("held");
    // The fault's own window: nothing may come back while it lasts.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(peer.received(), "");
    assert.deepEqual(proxy.faultyLinks(), ["a->echo blackhole"]);
    proxy.heal();
    await waitFor(() => peer.received() === "held", { timeoutMs: 5_000, what: "the held bytes after healing" });
    peer.socket.destroy();
  });

  it("holds only the replies in blackhole-return mode: requests still arrive", async () => {
    const arrived: string[] = [];
    const recorder = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.on("data", (chunk: Buffer) => {
        arrived.push(chunk.toString());
        socket.write(`ack ${chunk.toString()}`);
      });
    });
    await new Promise<void>((resolve) => recorder.listen(0, "127.0.0.1", resolve));
    const oneWay = new FaultProxy({ name: "recorder", identify: () => "a" });
    await oneWay.listen();
    oneWay.setTarget(`127.0.0.1:${(recorder.address() as { port: number }).port}`);
    oneWay.setMode("a", { kind: "blackhole-return" });
    const peer = await client(oneWay.address);
    peer.socket.write("request");
    await waitFor(() => arrived.includes("request"), { timeoutMs: 5_000, what: "the request to reach the target" });
    // The reply was written at once; the fault's own window shows it held.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(peer.received(), "");
    oneWay.heal();
    await waitFor(() => peer.received() === "ack request", { timeoutMs: 5_000, what: "the held reply after healing" });
    peer.socket.destroy();
    await oneWay.close();
    recorder.close();
  });

  it("resets new connections in drop-new mode while existing ones carry on", async () => {
    const existing = await client(proxy.address);
    proxy.setMode("a", { kind: "drop-new" });
    const refused = await client(proxy.address);
    await waitFor(() => refused.closed().closed, { timeoutMs: 5_000, what: "the new connection to be reset" });
    existing.socket.write("still");
    await waitFor(() => existing.received() === "still", { timeoutMs: 5_000, what: "the existing connection's echo" });
    assert.ok(proxy.counts.dropped >= 1);
    proxy.heal();
    existing.socket.destroy();
  });

  it("resets the link's existing connections", async () => {
    const peer = await client(proxy.address);
    peer.socket.write("x");
    await waitFor(() => peer.received() === "x", { timeoutMs: 5_000, what: "the echo" });
    assert.equal(proxy.reset("a"), 1);
    await waitFor(() => peer.closed().closed, { timeoutMs: 5_000, what: "the reset to reach the client" });
    assert.equal(peer.closed().error, "ECONNRESET");
  });

  it("names the process that opened a connection", async () => {
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((socket) => {
        server.close();
        resolve(socket);
      });
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as { port: number }).port;
        const child = spawn(process.execPath, ["-e", `const s = require("node:net").connect(${port}, "127.0.0.1"); s.on("error", () => {}); setTimeout(() => process.exit(0), 10000);`], { stdio: "ignore" });
        after(() => child.kill("SIGKILL"));
        childPid = child.pid!;
      });
    });
    let childPid = 0;
    const socket = await accepted;
    const name = await waitFor(() => connectingProcess(socket.remotePort!, socket.localPort!, new Map([[process.pid, "test"], [childPid, "child"]])) ?? undefined, { timeoutMs: 5_000, what: "the connecting process" });
    assert.equal(name, "child");
    socket.destroy();
  });

  it("calls a connection orphaned once its opener is gone, and names no one for a process outside the candidates", async () => {
    const accepted: Socket[] = [];
    const server = createServer((socket) => {
      socket.on("error", () => undefined);
      accepted.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const opener = connect({ host: "127.0.0.1", port });
    opener.on("error", () => undefined);
    await waitFor(() => accepted.length === 1, { timeoutMs: 5_000, what: "the connection to be accepted" });
    const socket = accepted[0]!;
    assert.equal(connectingProcess(socket.remotePort!, socket.localPort!, new Map([[process.pid + 1_000_000, "elsewhere"]])), null);
    assert.equal(connectingProcess(socket.remotePort!, socket.localPort!, new Map([[process.pid, "test"]])), "test");
    opener.destroy();
    await waitFor(() => connectingProcess(socket.remotePort!, socket.localPort!, new Map([[process.pid, "test"]])) === orphanedConnection, { timeoutMs: 5_000, what: "the opener's end to be orphaned" });
    socket.destroy();
  });

  it("closes while a source still holds a half-open connection whose target end has closed", async () => {
    let targetSide: Socket | null = null;
    const target = createServer((socket) => {
      targetSide = socket;
      socket.on("error", () => undefined);
      socket.pipe(socket, { end: false });
    });
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    after(() => target.close());
    const halfOpen = new FaultProxy({ name: "half-open", identify: () => "a" });
    await halfOpen.listen();
    halfOpen.setTarget(`127.0.0.1:${(target.address() as { port: number }).port}`);
    // The source keeps its side open after the target's FIN, as a stopped or busy process would.
    const source = connect({ host: "127.0.0.1", port: Number(halfOpen.address.split(":")[1]), allowHalfOpen: true });
    let received = "";
    let ended = false;
    let closed = false;
    source.on("error", () => undefined);
    source.on("data", (chunk: Buffer) => (received += chunk.toString()));
    source.on("end", () => (ended = true));
    source.on("close", () => (closed = true));
    after(() => source.destroy());
    source.write("x");
    await waitFor(() => received === "x" && targetSide !== null, { timeoutMs: 5_000, what: "the echo through the proxy" });
    targetSide!.end();
    await waitFor(() => ended, { timeoutMs: 5_000, what: "the target's FIN to reach the source" });
    // The proxy no longer tracks the connection (its target end closed cleanly), but still holds the source's socket.
    await halfOpen.close(3_000);
    // The proxy's end is gone (not merely forgotten): the source's writes are refused.
    await waitFor(() => closed || void source.write("y"), { timeoutMs: 5_000, intervalMs: 100, what: "the source's connection to be closed by the proxy" });
  });
});
