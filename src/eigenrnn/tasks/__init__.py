"""eigenrnn.tasks"""
