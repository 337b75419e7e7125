#!/usr/bin/env python3
# The python3-libvirt peer of bench/ffi.ts: the same calls on the same test driver, timed the same
# way (a tight loop per round, the median round reported by the caller), plus lifecycle event
# latency through python's default event loop thread. Prints one JSON object on stdout.
# The caller runs it once per round / per chunk of events, interleaved with its own measurements,
# so that both sides see the same machine load.
# Usage: peer.py ROUNDS IS_ALIVE_CALLS GET_STATE_CALLS EVENTS   (0 skips a part)
import json
import platform
import sys
import threading
import time

import libvirt


def per_call_ns(function, calls):
    started = time.perf_counter_ns()
    for _ in range(calls):
        function()
    return (time.perf_counter_ns() - started) / calls


def event_latencies_us(connection, domain, count):
    received = threading.Event()
    received_at = [0]

    def on_lifecycle(_conn, _dom, _event, _detail, _opaque):
        received_at[0] = time.perf_counter_ns()
        received.set()

    callback_id = connection.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
    latencies = []
    for index in range(count):
        received.clear()
        started = time.perf_counter_ns()
        if index % 2 == 0:
            domain.suspend()
        else:
            domain.resume()
        if not received.wait(5):
            raise RuntimeError("no lifecycle event within 5 s")
        latencies.append((received_at[0] - started) / 1000)
    connection.domainEventDeregisterAny(callback_id)
    return latencies


def main():
    rounds, is_alive_calls, get_state_calls, events = (int(argument) for argument in sys.argv[1:5])
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    libvirt.virEventRegisterDefaultImpl()
    connection = libvirt.open("test:///default")
    running = [True]

    def pump():
        while running[0]:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=pump, daemon=True).start()
    domain = connection.lookupByName("test")
    result = {"pythonVersion": platform.python_version(), "libvirtVersion": libvirt.getVersion()}
    if is_alive_calls > 0:
        per_call_ns(connection.isAlive, is_alive_calls // 10)  # warm-up
        result["isAliveNs"] = [per_call_ns(connection.isAlive, is_alive_calls) for _ in range(rounds)]
    if get_state_calls > 0:
        per_call_ns(domain.state, get_state_calls // 10)
        result["getStateNs"] = [per_call_ns(domain.state, get_state_calls) for _ in range(rounds)]
    if events > 0:
        event_latencies_us(connection, domain, min(events, 200))  # warm-up
        result["eventLatencyUs"] = event_latencies_us(connection, domain, events)
    running[0] = False
    print(json.dumps(result))


main()
