"""Reward models: the families of ``reward_model.kind`` (IRL per category, Bradley–Terry, AfD, RRM probe; see
:mod:`dr_irl.rewards.families`) and the category router used during RL."""

from dr_irl.rewards.router import CategoryRewardFunction, CategoryRewardModels

__all__ = ["CategoryRewardFunction", "CategoryRewardModels"]
