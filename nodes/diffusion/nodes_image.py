"""(being written)"""
NODE_TYPES = []
