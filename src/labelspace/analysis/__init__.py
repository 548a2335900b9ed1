"""Class-representation analysis: are the relations between classes alike in vision and language models?"""
