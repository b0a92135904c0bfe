"""Text encoders Φ for α^D and the hardness scorer that turns (response, demonstration) into δ."""

from dr_irl.encoders.delta import HardnessScorer
from dr_irl.encoders.text import TEXT_ENCODERS, build_text_encoder

__all__ = ["TEXT_ENCODERS", "HardnessScorer", "build_text_encoder"]
