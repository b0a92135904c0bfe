"""Screen reward-model designs by what matters: how they rank the policy's own answers.

Fits the per-category IRL rewards of each design (``--family linear``: θ per category and label on frozen
features, as ``irl_linear`` — MiniLM, or ``--features policy_hidden --feature-layer 16 --l2 0.01`` the
policy's own hidden states; ``classifier``: fine-tuned MiniLM classifiers, as ``irl``) on the same
training records and reference samples (a run's ``data`` and ``reference_samples`` stages), then prints their
AUCs on the blind-labelled SmolLM2 answers (:mod:`dr_irl.evaluation.reward_validity`) per split. Designs are
chosen on the ``dev`` split only.

    python bench/reward_screen.py --run outputs/<run> --designs guided_demo matched --family linear
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omegaconf import OmegaConf

from dr_irl.config import CATEGORIES, HardwareConfig, RewardModelConfig
from dr_irl.data.schema import load_records
from dr_irl.evaluation.reward_validity import load_labelled, reward_validity, validity_rows
from dr_irl.io import read_jsonl
from dr_irl.rewards.backbones import minilm_folder
from dr_irl.rewards.irl import train_reward_model
from dr_irl.rewards.router import CategoryRewardModels


def guided_samples(train, samples, args) -> dict[str, list[str]]:
    """SmolLM2's continuations of each prompt's opening (cached in the work folder)."""
    import torch

    from dr_irl.data.pair_designs import guide_openings
    from dr_irl.models.generation import generate_responses
    from dr_irl.models.loading import load_causal_lm, load_tokenizer

    cache = Path(args.work) / f"guided_w{args.guided_words}_t{args.temperature}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    path = args.policy
    model, tokenizer = load_causal_lm(path), load_tokenizer(path)
    prompts = [r for r in train if r.id in samples]
    openings = guide_openings(prompts, args.guided_words, args.seed)
    torch.manual_seed(args.seed)
    texts = generate_responses(
        model,
        tokenizer,
        [r.prompt for r in prompts],
        32,
        batch_size=128,
        do_sample=True,
        temperature=args.temperature,
        response_prefixes=[openings[r.id] for r in prompts],
    )
    out = {r.id: t for r, t in zip(prompts, texts, strict=True)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=1))
    return out


def linear_scorer(pairs, train, args):
    """The linear IRL rewards (θ per category and label) of ``pairs``, on frozen features (``--features``)."""
    from dr_irl.encoders.text import SentenceTransformerEncoder
    from dr_irl.rewards.linear_features import PolicyHiddenFeatures, SentenceFeatures, decoder_through
    from dr_irl.rewards.linear_irl import LinearRewardModels, cached_embed, fit_routes

    if args.features == "policy_hidden":
        from dr_irl.models import load_causal_lm, load_tokenizer

        model, tokenizer = load_causal_lm(args.policy), load_tokenizer(args.policy)
        decoder = decoder_through(model, args.feature_layer)  # the blocks φ needs, as a run keeps them
        featurize = PolicyHiddenFeatures(decoder, tokenizer, args.feature_layer)
    else:
        featurize = SentenceFeatures(SentenceTransformerEncoder(minilm_folder()))
    embed = cached_embed(featurize, {})
    harmful = {r.id: r.harmful for r in train}
    thetas = fit_routes(
        pairs, harmful, embed, CATEGORIES, True, args.pool_weight, args.l2, featurize.standardize
    )
    return LinearRewardModels(thetas, featurize, {})


def main() -> None:
    from dr_irl.data.pair_designs import PAIR_DESIGNS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", required=True, help="a run directory whose data and reference samples to use"
    )
    parser.add_argument("--designs", nargs="+", default=list(PAIR_DESIGNS.names()))
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reward_screen.json")
    parser.add_argument("--work", default="/tmp/reward_screen")
    parser.add_argument("--guided-words", type=int, default=4, help="opening words a guided sample continues")
    parser.add_argument("--temperature", type=float, default=0.7, help="guided samples' temperature")
    parser.add_argument("--family", choices=("classifier", "linear"), default="linear")
    parser.add_argument("--l2", type=float, default=1.0, help="linear: inverse L2 strength C")
    parser.add_argument(
        "--features", choices=("minilm", "policy_hidden"), default="minilm", help="linear: what φ reads"
    )
    parser.add_argument("--feature-layer", type=int, default=16, help="policy_hidden: the block read")
    parser.add_argument(
        "--pool-weight", type=float, default=0.3, help="linear: other categories' pair weight"
    )
    parser.add_argument(
        "--policy",
        default=str(Path.home() / ".cache/dr_irl/models/smollm2-135m-instruct"),
        help="the policy folder that writes the guided samples (the converted SmolLM2 of a run)",
    )
    args = parser.parse_args()

    run = Path(args.run)
    train = load_records(run / "stages" / "data" / "train.jsonl", CATEGORIES)[0]
    samples = {
        r["id"]: r["samples"] for r in read_jsonl(run / "stages" / "reference_samples" / "samples.jsonl")
    }
    labelled = load_labelled()
    guided = None
    if any(d.startswith("guided") for d in args.designs):
        guided = guided_samples(train, samples, args)
    rm = OmegaConf.structured(RewardModelConfig(epochs=args.epochs, save_steps=0))
    hardware = OmegaConf.structured(HardwareConfig(use_cpu=True))
    results = {}
    for design in args.designs:
        started = time.perf_counter()
        pairs = PAIR_DESIGNS.get(design)(train, samples, args.seed, guided=guided)
        if args.family == "linear":
            scorer = linear_scorer(pairs, train, args)
        else:
            folder = Path(args.work) / design / "models"
            for category in CATEGORIES:
                group = [p for p in pairs if p.category == category]
                train_reward_model(group, minilm_folder(), folder / category, rm, hardware, args.seed)
            scorer = CategoryRewardModels(folder, CATEGORIES, rm.max_length)
        validity = reward_validity(scorer, labelled, CATEGORIES)
        results[design] = {
            "pairs": len(pairs),
            "seconds": time.perf_counter() - started,
            "validity": validity,
        }
        print(f"\n{design}: {len(pairs)} pairs, {results[design]['seconds']:.0f} s")
        for row in validity_rows(validity):
            print("  " + " | ".join(row))
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
