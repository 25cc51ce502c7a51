"""eigenrnn.train"""
