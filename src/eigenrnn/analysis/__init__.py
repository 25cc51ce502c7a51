"""eigenrnn.analysis"""
