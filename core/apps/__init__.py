"""Applications of a trained model: sound matching, macro-controls, exploration, export."""
