"""``serve --ray``'s file relay without Ray: a worker's saved files travel with the message naming them, land in
the server's folders numbered as Save Image numbers them, and every reference to them (the live message, the
history, a later cached run naming the same file) is rewritten to the server's name."""
from nodeflow.server.outputs import OutputRefs
from nodeflow.server.ray_dispatch import _BufferSink, _Relay


def test_files_travel_with_their_message_and_references_name_the_servers_files(tmp_path):
    worker_out, worker_temp = tmp_path / "w" / "output", tmp_path / "w" / "temp"
    (worker_out / "job-1" / "faces").mkdir(parents=True)
    (worker_out / "job-1" / "faces" / "NodeFlow_00001_.png").write_bytes(b"first")
    worker_temp.mkdir(parents=True)
    (worker_temp / "NodeFlow_temp_ab_00001_.png").write_bytes(b"preview")
    server_out, server_temp = tmp_path / "s" / "output", tmp_path / "s" / "temp"
    (server_out / "faces").mkdir(parents=True)
    (server_out / "faces" / "NodeFlow_00004_.png").write_bytes(b"older")  # the server's folder goes on counting

    sink = _BufferSink(OutputRefs(worker_out, worker_temp))
    output = {"images": [{"filename": "NodeFlow_00001_.png", "subfolder": "job-1/faces", "type": "output"}]}
    sink.send("executed", {"node": "9", "output": output}, "client")
    sink.send("executed", {"node": "10", "output": {"images": [
        {"filename": "NodeFlow_temp_ab_00001_.png", "subfolder": "", "type": "temp"}]}}, "client")
    sink.send_bytes(b"frame", "client")
    items = sink.drain()
    assert sink.drain() == [] and len(items) == 3
    assert not (worker_out / "job-1" / "faces" / "NodeFlow_00001_.png").exists()  # shipped: gone from the worker

    relay = _Relay(server_out, server_temp)
    sent = []
    for kind, event, data, sid, files in items:
        if kind == "json":
            relay.absorb("w1", files)
            sent.append(relay.rewrite("w1", data))
    assert sent[0]["output"]["images"] == [{"filename": "NodeFlow_00005_.png", "subfolder": "faces",
                                            "type": "output"}]
    assert (server_out / "faces" / "NodeFlow_00005_.png").read_bytes() == b"first"
    assert (server_temp / "NodeFlow_temp_ab_00001_.png").read_bytes() == b"preview"
    # the history's copy of the outputs, and a later cached Save Image naming the same worker file
    history = {"9": {"images": [{"filename": "NodeFlow_00001_.png", "subfolder": "job-1/faces",
                                 "type": "output"}]}}
    assert sink.files_for(history) == []  # nothing left to ship
    assert relay.rewrite("w1", history)["9"]["images"][0]["filename"] == "NodeFlow_00005_.png"
    # another worker's file of the same name is another file
    other = {"filename": "NodeFlow_00001_.png", "subfolder": "job-1/faces", "type": "output"}
    relay.absorb("w2", [["output", "job-1/faces", "NodeFlow_00001_.png", b"second"]])
    assert relay.rewrite("w2", {"images": [dict(other)]})["images"][0]["filename"] == "NodeFlow_00006_.png"
