"""Small ComfyUI files written by hand, the way ComfyUI's editor writes them."""
from __future__ import annotations


def node(id, type, *, inputs=(), outputs=(), wv=None, mode=0, pos=(0, 0), **fields) -> dict:
    """inputs: (name, type, link) or (name, type, link, widget name); outputs: (name, type)."""
    d = {"id": id, "type": type, "pos": list(pos), "size": [315, 100], "flags": {}, "order": 0, "mode": mode,
         "inputs": [], "outputs": [], "properties": {}}
    for i in inputs:
        entry = {"name": i[0], "type": i[1], "link": i[2]}
        if len(i) > 3:
            entry["widget"] = {"name": i[3]}
        d["inputs"].append(entry)
    for k, (name, t) in enumerate(outputs):
        d["outputs"].append({"name": name, "type": t, "links": [], "slot_index": k})
    if wv is not None:
        d["widgets_values"] = list(wv)
    d.update(fields)
    return d


def workflow(nodes: list[dict], links: list[list], **top) -> dict:
    """links: [id, src, src_slot, dst, dst_slot, type]; the nodes' output link lists are filled in."""
    by_id = {n["id"]: n for n in nodes}
    for l in links:
        by_id[l[1]]["outputs"][l[2]]["links"].append(l[0])
    wf = {"last_node_id": max((n["id"] for n in nodes), default=0),
          "last_link_id": max((l[0] for l in links), default=0), "nodes": nodes, "links": links, "groups": [],
          "config": {}, "extra": {}, "version": 0.4}
    wf.update(top)
    return wf


def txt2img(seed_values=(5, "fixed", 20, 8, "euler", "normal", 1), save_wv=("ComfyUI",)) -> dict:
    """ComfyUI's default graph."""
    return workflow([
        node(4, "CheckpointLoaderSimple", outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
             wv=["model.safetensors"]),
        node(5, "EmptyLatentImage", outputs=[("LATENT", "LATENT")], wv=[512, 512, 1]),
        node(6, "CLIPTextEncode", inputs=[("clip", "CLIP", 3)], outputs=[("CONDITIONING", "CONDITIONING")],
             wv=["a bottle"]),
        node(7, "CLIPTextEncode", inputs=[("clip", "CLIP", 5)], outputs=[("CONDITIONING", "CONDITIONING")],
             wv=["text, watermark"]),
        node(3, "KSampler", inputs=[("model", "MODEL", 1), ("positive", "CONDITIONING", 4),
                                    ("negative", "CONDITIONING", 6), ("latent_image", "LATENT", 2)],
             outputs=[("LATENT", "LATENT")], wv=list(seed_values)),
        node(8, "VAEDecode", inputs=[("samples", "LATENT", 7), ("vae", "VAE", 8)], outputs=[("IMAGE", "IMAGE")]),
        node(9, "SaveImage", inputs=[("images", "IMAGE", 9)], wv=list(save_wv) if save_wv is not None else None),
    ], [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"], [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"],
        [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"]])


def find(wf: dict, node_id: int) -> dict:
    return next(n for n in wf["nodes"] if n["id"] == node_id)


def add_link(wf: dict, link: list) -> None:
    """Add a link and point the target input at it (the input entry must exist)."""
    wf["links"].append(link)
    find(wf, link[1])["outputs"][link[2]]["links"].append(link[0])
    find(wf, link[3])["inputs"][link[4]]["link"] = link[0]
    wf["last_link_id"] = max(wf["last_link_id"], link[0])
