"""eigenrnn.bench"""
