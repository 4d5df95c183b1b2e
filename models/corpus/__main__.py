"""python -m models.corpus --model NAME --corpus PATH --out stats.parquet [--backend ray] …

Every head's statistics over a corpus (a text file, one input per line; or a folder or zip of images), written as
Parquet (models/corpus/job.py describes the layout). Rerun with the same arguments to resume an interrupted job."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.corpus", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", required=True, help="language model (Hub name, folder, demo:reverse…) or timm name")
    ap.add_argument("--corpus", required=True, help="text file (one input per line), folder or zip of images")
    ap.add_argument("--out", required=True, help="the Parquet file to write")
    ap.add_argument("--weights", default="pretrained", help="images: pretrained, random, demo or a .safetensors")
    ap.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--backend", choices=("local", "ray"), default="local")
    ap.add_argument("--address", default=None, help="Ray: an existing cluster's address (else a local Ray starts)")
    ap.add_argument("--workers", type=int, default=None, help="Ray: model workers (default: GPUs, else CPUs − 1)")
    ap.add_argument("--exclude-sinks", action="store_true",
                    help="remove BOS-like keys ([CLS], <s>, an image's prefix tokens) before the other statistics")
    ap.add_argument("--head-map-inputs", type=int, default=64, help="inputs (the first ones) feeding the head map")
    ap.add_argument("--max-tokens", type=int, default=512, help="text: a longer line is listed as a bad input")
    ap.add_argument("--restart", action="store_true", help="discard what an earlier job with other arguments left")
    args = ap.parse_args(argv)

    from models.corpus.backends import run_local, run_ray
    from models.corpus.compute import JobSpec
    from models.corpus.job import JobError, open_corpus
    from models.runtime.device import resolve

    try:
        corpus = open_corpus(args.corpus)
        device = str(resolve(None if args.device == "auto" else args.device))
        spec = JobSpec(model=args.model, modality=corpus.modality, weights=args.weights, device=device,
                       exclude_sinks=args.exclude_sinks, head_map_inputs=args.head_map_inputs,
                       max_tokens=args.max_tokens)
        if args.backend == "ray":
            table = run_ray(spec, corpus, args.out, args.batch_size, address=args.address, restart=args.restart,
                            workers=args.workers)
        else:
            table = run_local(spec, corpus, args.out, args.batch_size, restart=args.restart)
    except (JobError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from models.corpus.job import read_metadata

    meta = read_metadata(args.out)
    bad = meta["bad_inputs"]
    print(f"{args.out}: {meta['good_inputs']} inputs × {table.num_rows} rows in all; {len(bad)} bad input(s)"
          f"{': ' + ', '.join(str(b['input_id']) for b in bad[:10]) if bad else ''}; {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
