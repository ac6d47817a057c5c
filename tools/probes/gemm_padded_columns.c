/* Images side by side along OpenBLAS's N (column-major, each image padded to a multiple
   of PAD columns): does an image get the same bits as alone? 1 thread.
   gcc -O2 gemm_padded_columns.c -lopenblas; ./a.out PAD (V=1 lists the images that differ) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void openblas_set_num_threads(int);
static float rnd(){ return (float)rand()/RAND_MAX*2-1; }
int main(int argc,char**argv){
  openblas_set_num_threads(1);
  int pad = argc>1 ? atoi(argv[1]) : 1;
  int shapes[][3] = {{40,360,20736},{80,720,5184},{160,1440,1296},{320,2880,324},{640,5760,81},{2560,640,81},{1280,320,324},{24,216,576},{48,432,144},{192,1728,9},{768,192,9},{96,864,36},{160,160,81},{320,320,81},{640,640,81},{80,80,324}};
  int ns=sizeof(shapes)/sizeof(shapes[0]);
  int bad=0,total=0;
  for(int s=0;s<ns;s++){
    int M=shapes[s][0],K=shapes[s][1],Ni=shapes[s][2];
    int Np=(Ni+pad-1)/pad*pad;
    for(int batch=2;batch<=16;batch*=2){
      int N=batch*Np;
      // col-major: A m x k (lda=M), B k x n (ldb=K), C m x n (ldc=M); images along n.
      float *A=malloc(sizeof(float)*M*K),*B=calloc((size_t)K*N,sizeof(float)),*C=malloc(sizeof(float)*(size_t)M*N);
      float *C1=malloc(sizeof(float)*(size_t)M*Np);
      for(int i=0;i<M*K;i++)A[i]=rnd();
      for(size_t i=0;i<(size_t)K*N;i++)B[i]=rnd();
      cblas_sgemm(CblasColMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,M,B,K,0,C,M);
      for(int b=0;b<batch;b++){
        cblas_sgemm(CblasColMajor,CblasNoTrans,CblasNoTrans,M,Np,K,1,A,M,B+(size_t)b*Np*K,K,0,C1,M);
        total++; if(memcmp(C1,C+(size_t)b*Np*M,sizeof(float)*(size_t)M*Ni)) {bad++; if(getenv("V")) printf("M=%d K=%d N=%d batch %d image %d\n",M,K,Ni,batch,b);}
      }
      free(A);free(B);free(C);free(C1);
    }
  }
  printf("pad %d: images differing %d of %d\n",pad,bad,total);
}
