// `import NeuralNet` brings the tensor type with it, as a researcher building a network expects.
@_exported import Tensors
